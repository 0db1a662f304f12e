import Foundation
import Hosts

/// Stops and starts etcd (and the API server in front of it) on a member during a restore. Production uses
/// systemd units; tests run etcd as plain processes and control them directly.
public protocol EtcdServiceControl: Sendable {
    /// Stops the API server on the member if it runs one there (no error when there is none).
    func stopAPIServer(on member: EtcdMemberTarget) async throws
    func startAPIServer(on member: EtcdMemberTarget) async throws
    func stopEtcd(on member: EtcdMemberTarget) async throws
    /// Starts etcd; members of a multi-member cluster are started together, so this must not wait for quorum.
    func startEtcd(on member: EtcdMemberTarget) async throws
}

/// The systemd units Capstan installs: `etcd.service` and, on control-plane hosts, `kube-apiserver.service`.
public struct SystemdServiceControl: EtcdServiceControl {
    public var etcdUnit: String
    public var apiServerUnit: String

    public init(etcdUnit: String = "etcd.service", apiServerUnit: String = "kube-apiserver.service") {
        self.etcdUnit = etcdUnit
        self.apiServerUnit = apiServerUnit
    }

    public func stopAPIServer(on member: EtcdMemberTarget) async throws {
        let present = try await member.connection.run(ShellCommand("systemctl", "cat", apiServerUnit))
        guard present.succeeded else { return }
        try await member.connection.check(ShellCommand("systemctl", "stop", apiServerUnit), options: RunOptions(timeoutSeconds: 120))
    }

    public func startAPIServer(on member: EtcdMemberTarget) async throws {
        let present = try await member.connection.run(ShellCommand("systemctl", "cat", apiServerUnit))
        guard present.succeeded else { return }
        try await member.connection.check(ShellCommand("systemctl", "start", apiServerUnit), options: RunOptions(timeoutSeconds: 120))
    }

    public func stopEtcd(on member: EtcdMemberTarget) async throws {
        try await member.connection.check(ShellCommand("systemctl", "stop", etcdUnit), options: RunOptions(timeoutSeconds: 120))
    }

    public func startEtcd(on member: EtcdMemberTarget) async throws {
        // --no-block: a Type=notify etcd reports ready only once a quorum is up, which needs the other members.
        try await member.connection.check(ShellCommand("systemctl", "start", "--no-block", etcdUnit), options: RunOptions(timeoutSeconds: 120))
    }
}
