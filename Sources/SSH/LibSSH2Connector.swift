import CLibSSH2
import Foundation
import Hosts

/// Opens libssh2 connections: one per endpoint, reused until closed; one bastion session per bastion
/// endpoint, shared by every host behind it; at most `maxNewConnectionsPerServer` handshakes at once
/// to one sshd or bastion, because sshd drops connections beyond its MaxStartups (default 10).
public final class LibSSH2Connector: HostConnector, @unchecked Sendable {
    public let maxNewConnectionsPerServer: Int
    private let cache = ConnectionCache()
    private let gates = ServerGates()

    public init(maxNewConnectionsPerServer: Int = 10) {
        self.maxNewConnectionsPerServer = maxNewConnectionsPerServer
    }

    public func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        try await connection(endpoint)
    }

    /// The open connection to `endpoint`, opening it when there is none.
    public func connection(_ endpoint: HostEndpoint) async throws -> LibSSH2Connection {
        try checkAuthenticationSupported(endpoint.authentication, host: endpoint.name)
        return try await cache.connection(for: endpoint) { [self] in
            try await open(endpoint)
        }
    }

    static func bastionEndpoint(_ jump: HostEndpoint.Jump, for target: HostEndpoint) -> HostEndpoint {
        HostEndpoint(
            name: "bastion \(jump.address)", address: jump.address, port: jump.port, user: jump.user,
            authentication: jump.authentication, knownHostsFile: target.knownHostsFile,
            knownHostsPolicy: target.knownHostsPolicy, connectTimeoutSeconds: target.connectTimeoutSeconds)
    }

    private func open(_ endpoint: HostEndpoint) async throws -> LibSSH2Connection {
        // The bastion connection is obtained before taking a slot at the bastion's gate: it needs a slot itself.
        var bastion: LibSSH2Connection?
        if let jump = endpoint.bastion { bastion = try await connection(Self.bastionEndpoint(jump, for: endpoint)) }
        let gateKey = endpoint.bastion.map { "\($0.address):\($0.port)" } ?? "\(endpoint.address):\(endpoint.port)"
        let gate = await gates.gate(for: gateKey, limit: maxNewConnectionsPerServer)
        await gate.acquire()
        defer { Task { await gate.release() } }

        let timeout = endpoint.connectTimeoutSeconds
        let socket: Int32
        var tunnel: Tunnel?
        if let bastion {
            let opened = try await Tunnel.open(through: bastion, to: endpoint.address, port: endpoint.port, host: endpoint.name, timeout: timeout)
            socket = opened.socket
            tunnel = opened.tunnel
        } else {
            socket = try await TCPConnect.opened(host: endpoint.name, address: endpoint.address, port: endpoint.port, timeout: timeout)
        }
        let session = try LibSSH2Session(socket: socket, host: endpoint.name)
        session.tunnel = tunnel
        let deadline = Date().addingTimeInterval(timeout)
        try await session.executor.perform {
            do {
                try session.handshake(until: deadline, address: "\(endpoint.address):\(endpoint.port)")
                try session.verifyHostKey(address: endpoint.address, port: endpoint.port, file: endpoint.knownHostsFile, policy: endpoint.knownHostsPolicy)
                try session.authenticate(user: endpoint.user, methods: endpoint.authentication, until: deadline)
            } catch HostError.timeout(let host, let what, _) {
                throw HostError.timeout(host: host, what: what, seconds: timeout)
            }
        }
        let cache = self.cache
        return LibSSH2Connection(endpoint: endpoint, session: session) {
            Task { await cache.remove(endpoint) }
        }
    }

    /// Closes every cached connection (bastions last, as hosts behind them hold their tunnels).
    public func closeAll() async {
        await cache.removeAll()
    }
}

/// Connections by endpoint; concurrent requests for one endpoint share one connection attempt.
actor ConnectionCache {
    private var entries: [HostEndpoint: Task<LibSSH2Connection, any Error>] = [:]

    func connection(for endpoint: HostEndpoint, open: @escaping @Sendable () async throws -> LibSSH2Connection) async throws -> LibSSH2Connection {
        if let existing = entries[endpoint] {
            if let connection = try? await existing.value { return connection }
        }
        let task = Task { try await open() }
        entries[endpoint] = task
        do {
            return try await task.value
        } catch {
            entries[endpoint] = nil
            throw error
        }
    }

    func remove(_ endpoint: HostEndpoint) { entries[endpoint] = nil }
    func removeAll() { entries.removeAll() }
}

/// Counting gates, one per server.
actor ServerGates {
    private var gates: [String: Gate] = [:]

    func gate(for key: String, limit: Int) -> Gate {
        if let gate = gates[key] { return gate }
        let gate = Gate(limit: limit)
        gates[key] = gate
        return gate
    }
}

actor Gate {
    private let limit: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = max(1, limit) }

    func acquire() async {
        if inUse < limit { inUse += 1; return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { inUse -= 1 } else { waiting.removeFirst().resume() }
    }
}
