import Foundation
import Hosts
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The configuration ssh would use for one host, as `ssh -G` prints it: keyword (lower case) to value, the
/// first line of each keyword.
struct OpenSSHEffectiveConfig: Sendable {
    let values: [String: String]

    init(text: String) {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2 else { continue }
            let key = fields[0].lowercased()
            if values[key] == nil { values[key] = String(fields[1]).trimmingCharacters(in: .whitespaces) }
        }
        self.values = values
    }

    /// `ssh -G` for `arguments` and `address`, or nil when ssh cannot print it (an OpenSSH before 6.8 has no `-G`).
    static func read(program: String, arguments: [String], address: String, environment: [String: String]) async -> OpenSSHEffectiveConfig? {
        guard let output = try? await ChildProcess.run([program, "-G"] + arguments + ["--", address], environment: environment),
              output.succeeded else { return nil }
        return OpenSSHEffectiveConfig(text: String(decoding: output.stdout, as: UTF8.self))
    }

    var ciphers: [String]? {
        values["ciphers"].map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
    }
}

/// The OpenSSH transport opens a host's TCP connection itself, with TCP_NODELAY, and hands it to the master
/// (`ProxyCommand=-`: ssh speaks SSH over its stdin and stdout, which are that socket).
///
/// ssh turns Nagle's algorithm off only once a session starts. Before that, in the handshake, a small packet
/// written while the previous one is not yet acknowledged waits for the acknowledgement, and the server delays
/// it (40 ms on Linux). On loopback here, `tcpdump` showed the client's 44-byte message after NEWKEYS held for
/// 44 ms, and a master took 129–131 ms with the socket handed over against 158 ms without (medians of 9). The
/// libssh2 transport's sockets already have TCP_NODELAY.
///
/// Only where ssh would open a plain TCP connection itself: when its effective configuration for the host has
/// no ProxyCommand or ProxyJump (a bastion is one), no bind address or interface, no address family, no host
/// name canonicalization and one connection attempt. Otherwise ssh connects as before. It connects to the
/// `hostname` and `port` of that configuration, which a `Host` block may have mapped.
enum OpenSSHDirect {
    struct Target: Equatable, Sendable {
        let host: String
        let port: Int
        /// `TCPKeepAlive`, which ssh applies only to connections it opens.
        let keepAlive: Bool
    }

    /// Where to connect, or nil to leave the connection to ssh.
    static func target(_ config: OpenSSHEffectiveConfig) -> Target? {
        let v = config.values
        func unset(_ key: String) -> Bool { v[key].map { $0.lowercased() == "none" } ?? true }
        guard unset("proxycommand"), unset("proxyjump"), v["bindaddress"] == nil, v["bindinterface"] == nil,
              (v["addressfamily"] ?? "any").lowercased() == "any",
              (v["canonicalizehostname"] ?? "false").lowercased() == "false",
              (v["connectionattempts"] ?? "1") == "1",
              let host = v["hostname"], !host.isEmpty, let port = v["port"].flatMap({ Int($0) }), port > 0 else { return nil }
        return Target(host: host, port: port, keepAlive: (v["tcpkeepalive"] ?? "yes").lowercased() == "yes")
    }

    /// An OpenSSH release number (`OpenSSH_9.2p1` is 9.2).
    struct Version: Equatable, Sendable {
        let major: Int
        let minor: Int

        /// `ProxyCommand=-` with `-f` needs an ssh that duplicates the descriptors before it daemonizes (it then
        /// points stdin and stdout at /dev/null); every OpenSSH from 8.5 on does.
        var handsOverConnections: Bool { major > 8 || (major == 8 && minor >= 5) }

        /// The version in `ssh -V` output (`OpenSSH_9.2p1 Debian-2, OpenSSL …`), or nil when it names none.
        init?(sshV text: String) {
            guard let range = text.range(of: "OpenSSH_") else { return nil }
            let parts = text[range.upperBound...].prefix { $0.isNumber || $0 == "." }.split(separator: ".")
            guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
            self.major = major
            self.minor = minor
        }

        /// The version of `program`, or nil when it is not OpenSSH.
        static func of(_ program: String) async -> Version? {
            guard let output = try? await ChildProcess.run([program, "-V"]), output.succeeded else { return nil }
            return Version(sshV: String(decoding: output.stderr + output.stdout, as: UTF8.self))
        }
    }

    /// The connected socket (close-on-exec in this process; the master gets its own copy as stdin and stdout).
    static func connect(_ target: Target, host: String, timeout: Double) async throws -> Int32 {
        let fd = try await TCPConnect.opened(host: host, address: target.host, port: target.port, timeout: timeout)
        // ssh expects a blocking descriptor it sets up itself, as its own connect leaves it.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        if target.keepAlive {
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        return fd
    }
}
