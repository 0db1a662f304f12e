import CLibSSH2
import Foundation
import Hosts

/// Owns one libssh2 channel; frees it on the session's queue when released.
final class LibSSH2Channel: @unchecked Sendable {
    let raw: OpaquePointer
    let session: LibSSH2Session

    init(raw: OpaquePointer, session: LibSSH2Session) {
        self.raw = raw
        self.session = session
    }

    deinit {
        let raw = self.raw
        session.release { libssh2_channel_free(raw) }
    }

    static func openSession(on session: LibSSH2Session, until deadline: Date) throws -> LibSSH2Channel {
        let raw = try session.retryPointer(until: deadline, what: "opening a channel") {
            libssh2_channel_open_ex(session.raw, "session", 7, UInt32(2 * 1024 * 1024), UInt32(LIBSSH2_CHANNEL_PACKET_DEFAULT), nil, 0)
        }
        guard let raw else {
            throw session.failure { .disconnected(host: session.host, reason: "cannot open a channel: \($0)") }
        }
        return LibSSH2Channel(raw: raw, session: session)
    }

    /// What one `step` moved.
    struct Step: Sendable {
        var stdout = Data()
        var stderr = Data()
        var finished = false
    }

    /// One short job: sends pending stdin, reads whatever output is there, and waits at most one
    /// poll slice when nothing moved. Reads are capped so a chatty command cannot hold the queue.
    func step(stdin: StdinFeed?) throws -> Step {
        var result = Step()
        var moved = false
        if let stdin { moved = try stdin.feed(self) || moved }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        for stream: Int32 in [0, SSH_EXTENDED_DATA_STDERR] {
            var total = 0
            while total < 1 << 20 {
                let n = buffer.withUnsafeMutableBytes { libssh2_channel_read_ex(raw, stream, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
                if n == Int(LIBSSH2_ERROR_EAGAIN) || n == 0 { break }
                if n < 0 {
                    throw session.failure(Int32(n)) { .disconnected(host: session.host, reason: "reading command output: \($0)") }
                }
                if stream == 0 { result.stdout.append(contentsOf: buffer[0..<n]) } else { result.stderr.append(contentsOf: buffer[0..<n]) }
                total += n
                moved = true
            }
        }
        if !moved {
            if libssh2_channel_eof(raw) == 1 {
                result.finished = true
            } else {
                session.waitSocket()
                if Self.peerClosed(session.socket) {
                    _ = libssh2_channel_read_ex(raw, 0, nil, 0)
                    throw HostError.disconnected(host: session.host, reason: "the server closed the connection while the command ran")
                }
            }
        }
        return result
    }

    /// True when the peer has closed the TCP connection and nothing is left to read.
    static func peerClosed(_ fd: Int32) -> Bool {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 0) > 0 else { return false }
        if pfd.revents & Int16(POLLHUP | POLLERR) != 0 { return true }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
    }

    /// Closes the channel and returns the exit status (128+n style 255 when killed by a signal).
    func finish(until deadline: Date) throws -> (status: Int32, signal: String?) {
        var rc = try session.retry(until: deadline, what: "closing a channel") { libssh2_channel_close(raw) }
        if rc == 0 { rc = try session.retry(until: deadline, what: "closing a channel") { libssh2_channel_wait_closed(raw) } }
        if rc != 0 {
            throw session.failure(rc) { .disconnected(host: session.host, reason: "closing a channel: \($0)") }
        }
        var name: UnsafeMutablePointer<CChar>?
        var nameLength = 0
        _ = libssh2_channel_get_exit_signal(raw, &name, &nameLength, nil, nil, nil, nil)
        if let name {
            let signal = String(cString: name)
            free(name)
            return (255, signal)
        }
        return (libssh2_channel_get_exit_status(raw), nil)
    }

    /// Starts closing without waiting: used on timeout and cancellation.
    func abandon() {
        _ = libssh2_channel_close(raw)
    }
}

/// Bytes for a command's stdin, sent as the window allows, then EOF. Touched only on the session queue.
final class StdinFeed: @unchecked Sendable {
    let data: Data
    var offset = 0
    var eofSent = false

    init(_ data: Data) { self.data = data }

    /// Returns true when something was sent.
    func feed(_ channel: LibSSH2Channel) throws -> Bool {
        var moved = false
        while offset < data.count {
            let n = data.withUnsafeBytes { buffer in
                libssh2_channel_write_ex(channel.raw, 0, buffer.baseAddress?.advanced(by: offset).assumingMemoryBound(to: CChar.self), min(buffer.count - offset, 256 * 1024))
            }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { return moved }
            if n < 0 {
                throw channel.session.failure(Int32(n)) { .disconnected(host: channel.session.host, reason: "writing stdin: \($0)") }
            }
            offset += n
            moved = true
        }
        if !eofSent {
            let rc = libssh2_channel_send_eof(channel.raw)
            if rc == LIBSSH2_ERROR_EAGAIN { return moved }
            if rc != 0 {
                throw channel.session.failure(rc) { .disconnected(host: channel.session.host, reason: "closing stdin: \($0)") }
            }
            eofSent = true
            moved = true
        }
        return moved
    }
}
