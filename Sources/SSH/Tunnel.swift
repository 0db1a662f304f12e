import CLibSSH2
import Foundation
import Hosts

/// Carries a target's SSH session through a direct-tcpip channel on a bastion's session.
///
/// libssh2 needs a socket for a session, so the target session gets one end of a `socketpair` and a
/// pump thread moves bytes between the other end and the channel. The pump touches the channel only
/// inside short jobs on the bastion session's queue, so the bastion session keeps serving its own
/// commands and other tunnels. The pump ends when either side closes.
final class Tunnel: @unchecked Sendable {
    let bastion: LibSSH2Connection
    let channel: LibSSH2Channel
    /// The pump's end of the socketpair.
    let local: Int32
    private var toChannel = [UInt8]()
    private var toLocal = [UInt8]()
    private var localClosed = false
    private var channelClosed = false

    private init(bastion: LibSSH2Connection, channel: LibSSH2Channel, local: Int32) {
        self.bastion = bastion
        self.channel = channel
        self.local = local
    }

    /// Opens the channel to `address:port` and returns the socket the target session should use.
    static func open(through bastion: LibSSH2Connection, to address: String, port: Int, host: String, timeout: Double) async throws -> (socket: Int32, tunnel: Tunnel) {
        let session = bastion.session
        let deadline = Date().addingTimeInterval(timeout)
        let channel = try await session.executor.perform {
            let raw = try session.retryPointer(until: deadline, what: "opening a tunnel through the bastion") {
                libssh2_channel_direct_tcpip_ex(session.raw, address, Int32(port), "127.0.0.1", 22)
            }
            guard let raw else {
                throw session.failure { HostError.connectFailed(host: host, address: "\(address):\(port) via \(session.host)", reason: "the bastion refused the tunnel: \($0)") }
            }
            return LibSSH2Channel(raw: raw, session: session)
        }
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
            throw HostError.connectFailed(host: host, address: address, reason: "socketpair: \(String(cString: strerror(errno)))")
        }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        let tunnel = Tunnel(bastion: bastion, channel: channel, local: fds[1])
        let thread = Thread { tunnel.pump() }
        thread.name = "capstan.ssh.tunnel.\(host)"
        thread.start()
        return (fds[0], tunnel)
    }

    private func pump() {
        let bastionSocket = bastion.session.socket
        while !(localClosed && toChannel.isEmpty) && !(channelClosed && toLocal.isEmpty) {
            var fds = [
                pollfd(fd: local, events: Int16(POLLIN) | (toLocal.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
                pollfd(fd: bastionSocket, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, 20)
            bastion.session.executor.sync { moveBytes() }
        }
        bastion.session.executor.sync { channel.abandon() }
        close(local)
    }

    /// One round of copying in both directions, without blocking. Runs on the bastion session's queue.
    private func moveBytes() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        if !localClosed && toChannel.count < 1 << 20 {
            let n = read(local, &buffer, buffer.count)
            if n > 0 { toChannel.append(contentsOf: buffer[0..<n]) } else if n == 0 || (errno != EAGAIN && errno != EINTR) { localClosed = true }
        }
        while !toChannel.isEmpty && !channelClosed {
            let n = toChannel.withUnsafeBytes { libssh2_channel_write_ex(channel.raw, 0, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { break }
            if n < 0 { channelClosed = true; toChannel.removeAll(); break }
            toChannel.removeFirst(n)
        }
        if localClosed && toChannel.isEmpty && !channelClosed {
            _ = libssh2_channel_send_eof(channel.raw)
        }
        while !channelClosed && toLocal.count < 1 << 20 {
            let n = buffer.withUnsafeMutableBytes { libssh2_channel_read_ex(channel.raw, 0, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
            if n > 0 { toLocal.append(contentsOf: buffer[0..<n]); continue }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { break }
            if n < 0 || libssh2_channel_eof(channel.raw) == 1 { channelClosed = true }
            break
        }
        if !toLocal.isEmpty {
            let n = write(local, toLocal, toLocal.count)
            if n > 0 { toLocal.removeFirst(n) } else if n < 0 && errno != EAGAIN && errno != EINTR { localClosed = true; toLocal.removeAll() }
        }
        if channelClosed && toLocal.isEmpty { shutdown(local, Int32(SHUT_WR)) }
    }
}
