import CLibSSH2
import Foundation
import Hosts
#if canImport(Glibc)
import Glibc
#endif

/// Owns one libssh2 session and its socket. Touched only on `executor`'s queue (see `SessionExecutor`).
final class LibSSH2Session: @unchecked Sendable {
    let raw: OpaquePointer
    let socket: Int32
    let host: String
    let executor: SessionExecutor
    /// Keeps a bastion tunnel (and through it the bastion session) alive as long as this session.
    var tunnel: Tunnel?

    /// Wraps an already connected socket; closes it when this object goes away.
    init(socket: Int32, host: String) throws {
        _ = SSH.initialised
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            close(socket)
            throw HostError.connectFailed(host: host, address: host, reason: "libssh2 could not allocate a session")
        }
        raw = session
        self.socket = socket
        self.host = host
        executor = SessionExecutor(label: host)
        libssh2_session_set_blocking(session, 0)
    }

    deinit {
        let raw = self.raw
        let socket = self.socket
        executor.sync {
            var tries = 0
            while libssh2_session_disconnect_ex(raw, SSH_DISCONNECT_BY_APPLICATION, "closed by capstan", "") == LIBSSH2_ERROR_EAGAIN, tries < 20 {
                tries += 1
                _ = Self.pollSocket(socket, events: Int16(POLLOUT), milliseconds: 10)
            }
            tries = 0
            while libssh2_session_free(raw) == LIBSSH2_ERROR_EAGAIN, tries < 20 {
                tries += 1
                _ = Self.pollSocket(socket, events: Int16(POLLIN | POLLOUT), milliseconds: 10)
            }
            close(socket)
        }
    }

    /// The session's last error as (code, text), read right after a failed call.
    func lastError() -> (code: Int32, text: String) {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(raw, &message, &length, 0)
        let text = message.map { String(cString: $0) } ?? "unknown libssh2 error"
        return (code, text.isEmpty ? "libssh2 error \(code)" : text)
    }

    static func isConnectionLost(_ code: Int32) -> Bool {
        code == LIBSSH2_ERROR_SOCKET_SEND || code == LIBSSH2_ERROR_SOCKET_RECV
            || code == LIBSSH2_ERROR_SOCKET_DISCONNECT || code == LIBSSH2_ERROR_SOCKET_TIMEOUT
            || code == LIBSSH2_ERROR_SOCKET_NONE
    }

    /// The error for a failed call: a lost connection is `disconnected`, anything else `make(text)`.
    func failure(_ code: Int32? = nil, _ make: (String) -> HostError) -> HostError {
        let (last, text) = lastError()
        let c = code ?? last
        if Self.isConnectionLost(c) || Self.isConnectionLost(last) {
            return .disconnected(host: host, reason: text)
        }
        return make(text)
    }

    /// Waits (at most `milliseconds`) until the socket is ready in the direction libssh2 is blocked on.
    /// Returns false when the peer closed the socket or poll failed.
    @discardableResult
    func waitSocket(milliseconds: Int32 = SessionExecutor.slice) -> Bool {
        let directions = libssh2_session_block_directions(raw)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        return Self.pollSocket(socket, events: events, milliseconds: milliseconds) >= 0
    }

    static func pollSocket(_ fd: Int32, events: Int16, milliseconds: Int32) -> Int32 {
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        let rc = poll(&pfd, 1, milliseconds)
        return rc
    }

    /// Repeats a non-blocking libssh2 call until it stops answering EAGAIN or `deadline` passes.
    func retry(until deadline: Date, what: String, _ call: () -> Int32) throws -> Int32 {
        while true {
            let rc = call()
            if rc != LIBSSH2_ERROR_EAGAIN { return rc }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw HostError.timeout(host: host, what: what, seconds: 0) }
            waitSocket(milliseconds: Int32(min(Double(SessionExecutor.slice), left * 1000)))
        }
    }

    /// Same as `retry` for calls returning a pointer (NULL with EAGAIN means "again").
    func retryPointer(until deadline: Date, what: String, _ call: () -> OpaquePointer?) throws -> OpaquePointer? {
        while true {
            if let p = call() { return p }
            if libssh2_session_last_errno(raw) != LIBSSH2_ERROR_EAGAIN { return nil }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { throw HostError.timeout(host: host, what: what, seconds: 0) }
            waitSocket(milliseconds: Int32(min(Double(SessionExecutor.slice), left * 1000)))
        }
    }

    func handshake(until deadline: Date, address: String) throws {
        let rc = try retry(until: deadline, what: "SSH handshake") { libssh2_session_handshake(raw, socket) }
        guard rc == 0 else {
            throw HostError.connectFailed(host: host, address: address, reason: "SSH handshake failed: \(lastError().text)")
        }
    }
}

/// Opens TCP connections with a timeout: a non-blocking `connect` and a `poll` for writability.
enum TCPConnect {
    /// `open` on a GCD thread: the connect waits in poll, which must not hold a thread of the cooperative pool.
    static func opened(host: String, address: String, port: Int, timeout: Double) async throws -> Int32 {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try open(host: host, address: address, port: port, timeout: timeout) })
            }
        }
    }

    static func open(host: String, address: String, port: Int, timeout: Double) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let gai = getaddrinfo(address, String(port), &hints, &list)
        guard gai == 0, let first = list else {
            throw HostError.connectFailed(host: host, address: "\(address):\(port)", reason: "cannot resolve: \(String(cString: gai_strerror(gai)))")
        }
        defer { freeaddrinfo(list) }
        let deadline = Date().addingTimeInterval(timeout)
        var lastReason = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if fd < 0 { lastReason = String(cString: strerror(errno)); continue }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else {
                lastReason = String(cString: strerror(errno)); close(fd); continue
            }
            let left = deadline.timeIntervalSinceNow
            let rc = LibSSH2Session.pollSocket(fd, events: Int16(POLLOUT), milliseconds: Int32(max(0, left * 1000)))
            if rc == 0 {
                close(fd)
                throw HostError.timeout(host: host, what: "TCP connect to \(address):\(port)", seconds: timeout)
            }
            var soError: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
            if rc > 0, soError == 0 { return fd }
            lastReason = String(cString: strerror(soError != 0 ? soError : errno))
            close(fd)
        }
        throw HostError.connectFailed(host: host, address: "\(address):\(port)", reason: lastReason)
    }
}

extension LibSSH2Session {
    /// Frees a handle of this session (channel, SFTP subsystem, SFTP file) on the session's queue, retrying
    /// while the non-blocking session answers EAGAIN; `deinit`s of the handle owners call it.
    func release(maxTries: Int = 20, _ free: () -> Int32) {
        executor.sync {
            var tries = 0
            while free() == LIBSSH2_ERROR_EAGAIN, tries < maxTries {
                tries += 1
                _ = waitSocket(milliseconds: 10)
            }
        }
    }
}
