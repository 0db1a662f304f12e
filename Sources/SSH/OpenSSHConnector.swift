import Crypto
import Foundation
import Hosts
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens connections through the system OpenSSH client: one ControlMaster per host, every command
/// and transfer a multiplexed `ssh` client on it.
///
/// It serves what libssh2 cannot: RSA keys with libssh2 1.10, FIDO keys, GSSAPI, ProxyCommand and the
/// user's full ~/.ssh/config (options Capstan sets on the command line win over the config file).
/// Control sockets live in a private 0700 directory of this connector. At most
/// `maxNewConnectionsPerServer` masters start at once against one sshd or bastion (sshd MaxStartups).
public final class OpenSSHConnector: HostConnector, @unchecked Sendable {
    public let maxNewConnectionsPerServer: Int
    /// The `ssh` program (PATH lookup by default).
    public let program: String
    /// The private directory holding control sockets, master logs and askpass scripts.
    public var controlDirectory: String { directory.path }
    private let directory: PrivateDirectory
    private let cache = OpenSSHConnectionCache()
    private let gates = ServerGates()
    private let counter = Counter()
    private let builtInCiphers = Once<[String]?>()
    private let version = Once<OpenSSHDirect.Version?>()

    public init(maxNewConnectionsPerServer: Int = 10, program: String = "ssh") throws {
        self.maxNewConnectionsPerServer = maxNewConnectionsPerServer
        self.program = program
        var template = Array((NSTemporaryDirectory() + "capstan-ssh-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } }
        guard let made else {
            throw HostError.unsupported(host: "localhost", reason: "cannot create a private directory for OpenSSH control sockets in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        _ = chmod(made, 0o700)
        directory = PrivateDirectory(path: made)
    }

    public func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        try await connection(endpoint)
    }

    /// The open connection to `endpoint`, starting its master when there is none.
    public func connection(_ endpoint: HostEndpoint) async throws -> OpenSSHConnection {
        try await cache.connection(for: endpoint) { [self] in try await open(endpoint) }
    }

    /// Ends every master this connector started, at once (bastions last: hosts behind them tunnel through
    /// their masters), then removes the control directory. A connection its user already closed is waited
    /// for, not skipped: its `ssh -O exit` may still be on its way, and removing the directory under it
    /// would leave that master running for its ControlPersist time.
    public func closeAll() async {
        let all = await cache.removeAll()
        for bastions in [false, true] {
            await withTaskGroup(of: Void.self) { group in
                for connection in all where connection.isBastion == bastions {
                    group.addTask { await connection.close() }
                }
            }
        }
        await directory.remove()
    }

    private func open(_ endpoint: HostEndpoint) async throws -> OpenSSHConnection {
        var proxy: OpenSSHConnection?
        if let jump = endpoint.bastion {
            proxy = try await connection(LibSSH2Connector.bastionEndpoint(jump, for: endpoint))
        }
        let gateKey = endpoint.bastion.map { "\($0.address):\($0.port)" } ?? "\(endpoint.address):\(endpoint.port)"
        let gate = await gates.gate(for: gateKey, limit: maxNewConnectionsPerServer)
        await gate.acquire()
        defer { Task { await gate.release() } }

        let id = counter.next()
        // One socket per connection, not %C: two inventory hosts may share address, port and user and
        // must still get a master each. The short name keeps the path under the unix socket limit.
        let socket = "\(controlDirectory)/m\(id)"
        let askpass = try writeAskpass(for: endpoint, id: id)
        var options = OpenSSHOptions(endpoint: endpoint, controlPath: socket, askpass: askpass, proxy: proxy, program: program)
        let plan = await plan(options, address: endpoint.address)
        if let ciphers = plan.ciphers {
            options.arguments += ["-o", "Ciphers=\(ciphers)"]
        }
        // The TCP connection, when Capstan opens it (`OpenSSHDirect`): only the master gets `ProxyCommand=-`;
        // its multiplexed clients never connect themselves.
        var connection: Int32?
        if let target = plan.direct {
            connection = try await OpenSSHDirect.connect(target, host: endpoint.name, timeout: endpoint.connectTimeoutSeconds)
        }
        defer { if let connection { close(connection) } }
        let log = "\(controlDirectory)/m\(id).log"
        let argv = [program, "-M", "-N", "-f", "-v", "-o", "ControlPersist=600"] + (connection == nil ? [] : ["-o", "ProxyCommand=-"])
            + options.arguments + ["--", endpoint.address]
        let master = try ChildProcess(argv, environment: options.environment, stdin: false, outputPath: log, connection: connection)
        let limit = max(endpoint.connectTimeoutSeconds * 3, 30)
        let fired = Flag()
        let timer = Task {
            try await Task.sleep(for: .seconds(limit))
            fired.set()
            master.signal(SIGKILL)
        }
        for await _ in master.events {}
        let status = ChildProcess.exitCode(await master.waitStatus())
        timer.cancel()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw Self.connectError(log: text, status: status, endpoint: endpoint, timedOut: fired.isSet, limit: limit)
        }
        // Weak: the cache holds this connection, so a strong capture would keep both alive for good.
        return OpenSSHConnection(endpoint: endpoint, options: options, directory: directory, isBastion: endpoint.name.hasPrefix("bastion ")) { [weak cache] in
            Task { await cache?.remove(endpoint) }
        }
    }

    /// What `ssh -G` for this endpoint decides before the master starts: the AES-GCM-first cipher order, or nil
    /// to leave ssh's own (`OpenSSHCiphers`), and where Capstan opens the TCP connection itself, or nil to let
    /// ssh do it (`OpenSSHDirect`). OpenSSH's built-in cipher list (`ssh -G -F /dev/null`) and its version are
    /// read once per connector; the host's effective configuration with the options ssh gets, so that a
    /// `Ciphers`, `ProxyCommand` or `HostName` line of the user's or the system's configuration is seen.
    private func plan(_ options: OpenSSHOptions, address: String) async -> (ciphers: String?, direct: OpenSSHDirect.Target?) {
        let program = self.program
        // Read at once: each is a process start on the way to the first connection.
        async let effective = OpenSSHEffectiveConfig.read(program: program, arguments: options.arguments, address: address, environment: options.environment)
        async let version = try? self.version.value { await OpenSSHDirect.Version.of(program) }
        var ciphers: String?
        if OpenSSHCiphers.localCPUHasAES {
            let builtIn = try? await builtInCiphers.value {
                await OpenSSHEffectiveConfig.read(program: program, arguments: ["-F", "/dev/null"], address: "localhost", environment: ProcessInfo.processInfo.environment)?.ciphers
            }
            if let builtIn = builtIn ?? nil, let chosen = await effective?.ciphers {
                ciphers = OpenSSHCiphers.preferred(builtIn: builtIn, effective: chosen, localAES: true)
            }
        }
        guard let config = await effective, let found = await version, found.handsOverConnections else { return (ciphers, nil) }
        return (ciphers, OpenSSHDirect.target(config))
    }

    /// An askpass program for password and passphrase prompts, reading the values from the environment
    /// variables the endpoint names (the values never touch the disk).
    private func writeAskpass(for endpoint: HostEndpoint, id: Int) throws -> String? {
        var passwordEnv: String?
        var passphraseEnv: String?
        for method in endpoint.authentication {
            switch method {
            case .password(let env): passwordEnv = passwordEnv ?? env
            case .privateKey(_, let env?): passphraseEnv = passphraseEnv ?? env
            default: break
            }
        }
        guard passwordEnv != nil || passphraseEnv != nil else { return nil }
        for name in [passwordEnv, passphraseEnv].compactMap({ $0 }) where !Self.isVariableName(name) {
            throw HostError.authenticationFailed(host: endpoint.name, user: endpoint.user, tried: endpoint.authentication.map(\.label), reason: "\(name) is not an environment variable name")
        }
        let script = """
        #!/bin/sh
        case "$1" in
          *assphrase*) printf '%s\\n' "$\(passphraseEnv ?? "CAPSTAN_NO_PASSPHRASE")" ;;
          *) printf '%s\\n' "$\(passwordEnv ?? "CAPSTAN_NO_PASSWORD")" ;;
        esac

        """
        let path = "\(controlDirectory)/askpass\(id)"
        // Written through a close-on-exec descriptor: an ssh started meanwhile by another connection must not
        // inherit it, or the script stays open for writing there and cannot be executed (ETXTBSY).
        #if canImport(Glibc)
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o700)
        #else
        let fd = Darwin.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o700)
        #endif
        guard fd >= 0 else { throw HostError.unsupported(host: endpoint.name, reason: "cannot write \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(script.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        let closed = Foundation.close(fd)
        guard written == bytes.count, closed == 0 else {
            throw HostError.unsupported(host: endpoint.name, reason: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    static func isVariableName(_ s: String) -> Bool {
        guard let first = s.first, first == "_" || first.isLetter && first.isASCII else { return false }
        return s.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }

    /// Maps what `ssh -v` logged on a failed connect to the host layer's errors.
    static func connectError(log: String, status: Int32, endpoint: HostEndpoint, timedOut: Bool, limit: Double) -> HostError {
        // ssh ends its stderr lines with \r\n, a single Character in Swift: split on any newline.
        let lines = log.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        let messages = lines.filter { !$0.hasPrefix("debug") && !$0.hasPrefix("OpenSSH_") && !$0.hasPrefix("Authenticated to") && !$0.hasPrefix("Transferred:") }
        let reason = messages.suffix(3).joined(separator: "; ")
        // The last `Server host key:` line is the target's (a jump host's comes first).
        let presented = lines.last { $0.contains("Server host key: ") }.map { line -> (type: String, fingerprint: String) in
            let fields = line.components(separatedBy: "Server host key: ")[1].split(separator: " ")
            return (fields.count > 0 ? String(fields[0]) : "unknown", fields.count > 1 ? String(fields[1]) : "unknown")
        }
        if log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            var file = endpoint.knownHostsFile
            var lineNumber = 0
            var expected = "unknown"
            var keyType = presented?.type ?? "unknown"
            if let offending = lines.first(where: { $0.hasPrefix("Offending ") && $0.contains(" key in ") }),
               let location = offending.components(separatedBy: " key in ").last,
               let colon = location.lastIndex(of: ":"), let n = Int(location[location.index(after: colon)...]) {
                file = String(location[..<colon])
                lineNumber = n
                if let entry = Self.knownHostsEntry(file: file, line: n) {
                    keyType = entry.type
                    expected = entry.fingerprint
                }
            }
            return .hostKeyChanged(host: endpoint.name, keyType: keyType, expected: expected, presented: presented?.fingerprint ?? "unknown", knownHostsFile: file, line: lineNumber)
        }
        if log.contains("Host key verification failed") || log.contains("host key is known for") {
            return .hostKeyUnknown(host: endpoint.name, keyType: presented?.type ?? "unknown", fingerprint: presented?.fingerprint ?? "unknown", knownHostsFile: endpoint.knownHostsFile)
        }
        if log.contains("Permission denied (") || log.contains("Too many authentication failures") {
            return .authenticationFailed(host: endpoint.name, user: endpoint.user, tried: endpoint.authentication.map(\.label), reason: reason)
        }
        if timedOut {
            return .timeout(host: endpoint.name, what: "connecting", seconds: limit)
        }
        if log.contains("timed out") {
            return .timeout(host: endpoint.name, what: "connecting", seconds: endpoint.connectTimeoutSeconds)
        }
        return .connectFailed(host: endpoint.name, address: "\(endpoint.address):\(endpoint.port)", reason: reason.isEmpty ? "ssh exited \(status)" : reason)
    }

    /// Key type and SHA256 fingerprint (as `ssh-keygen -l` prints them) of a known_hosts line.
    static func knownHostsEntry(file: String, line: Int) -> (type: String, fingerprint: String)? {
        guard line > 0, let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard line <= lines.count else { return nil }
        var fields = lines[line - 1].split(separator: " ").map(String.init)
        if fields.first?.hasPrefix("@") == true { fields.removeFirst() }
        guard fields.count >= 3, let blob = Data(base64Encoded: fields[2]) else { return nil }
        let digest = Data(SHA256.hash(data: blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
        return (fields[1], "SHA256:" + digest)
    }
}

/// The `ssh` options one endpoint needs, shared by its master and every client on it.
struct OpenSSHOptions: Sendable {
    let program: String
    let controlPath: String
    /// The options every `ssh` of this endpoint gets (a `Ciphers` choice is added before the master starts).
    var arguments: [String]
    let environment: [String: String]

    init(endpoint: HostEndpoint, controlPath: String, askpass: String?, proxy: OpenSSHConnection?, program: String) {
        self.program = program
        self.controlPath = controlPath
        let escape = { (path: String) in "\"" + path.replacingOccurrences(of: "%", with: "%%") + "\"" }
        var args = [
            "-p", String(endpoint.port), "-l", endpoint.user,
            "-o", "ControlPath=\(escape(controlPath))",
            "-o", "StrictHostKeyChecking=\(endpoint.knownHostsPolicy == .acceptNew ? "accept-new" : "yes")",
            "-o", "UserKnownHostsFile=\(escape(endpoint.knownHostsFile))",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "CheckHostIP=no",
            "-o", "ConnectTimeout=\(max(1, Int(endpoint.connectTimeoutSeconds.rounded(.up))))",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
        ]
        var environment = ProcessInfo.processInfo.environment
        if let askpass {
            args += ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"]
            environment["SSH_ASKPASS"] = askpass
            environment["SSH_ASKPASS_REQUIRE"] = "force"
        } else {
            args += ["-o", "BatchMode=yes"]
        }
        for case .privateKey(let path, _) in endpoint.authentication { args += ["-i", path] }
        if !endpoint.authentication.contains(.agent) {
            args += ["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
        }
        if !endpoint.authentication.contains(where: { if case .password = $0 { return true }; return false }) {
            args += ["-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"]
        }
        if let proxy {
            // The hop runs as a stdio forward on the bastion's own master (`ssh -W` over its socket), so
            // one bastion session serves every host behind it with the bastion's own settings.
            // ssh expands %h/%p in ProxyCommand, so every other % is doubled.
            let literal = { (s: String) in ShellCommand.quote(s).replacingOccurrences(of: "%", with: "%%") }
            let line = [program, "-S", proxy.options.controlPath, "-o", "ControlMaster=no", "-W"].map(literal).joined(separator: " ")
                + " '[%h]:%p' -- " + literal(proxy.endpoint.address)
            args += ["-o", "ProxyCommand=\(line)"]
        }
        arguments = args
        self.environment = environment
    }
}

/// Open connections by endpoint; concurrent requests for one endpoint share one master start.
actor OpenSSHConnectionCache {
    private var entries: [HostEndpoint: Task<OpenSSHConnection, any Error>] = [:]
    private var opened: [OpenSSHConnection] = []

    func connection(for endpoint: HostEndpoint, open: @escaping @Sendable () async throws -> OpenSSHConnection) async throws -> OpenSSHConnection {
        if let existing = entries[endpoint], let connection = try? await existing.value { return connection }
        // Recorded by the task itself (it runs on this actor), so `removeAll` finds it once the task has ended.
        let task = Task {
            let connection = try await open()
            opened.append(connection)
            return connection
        }
        entries[endpoint] = task
        do {
            return try await task.value
        } catch {
            entries[endpoint] = nil
            throw error
        }
    }

    func remove(_ endpoint: HostEndpoint) { entries[endpoint] = nil }

    /// Every connection opened since the last `removeAll`, closed or not (a connection its user closed may
    /// still be telling its master to exit), once the opens still under way have ended; the entries are forgotten.
    func removeAll() async -> [OpenSSHConnection] {
        let tasks = Array(entries.values)
        entries.removeAll()
        for task in tasks { _ = try? await task.value }
        defer { opened.removeAll() }
        return opened
    }
}

/// The connector's control directory, removed when the connector and its last connection are gone
/// (a connection outlives the connector that opened it and still needs its socket and askpass).
final class PrivateDirectory: Sendable {
    let path: String
    init(path: String) { self.path = path }
    deinit { Self.removeTree(path) }

    /// Removes the directory now, after `closeAll`: a master told to exit may still be unlinking its socket
    /// while the tree is removed, so a failed removal is retried for up to a second.
    func remove() async {
        for _ in 0..<20 {
            if Self.removeTree(path) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// True once nothing is left at `path`.
    @discardableResult
    static func removeTree(_ path: String) -> Bool {
        try? FileManager.default.removeItem(atPath: path)
        return !FileManager.default.fileExists(atPath: path)
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}
