import Foundation
import Hosts
import Inventory
import PKI

/// Never act on a different cluster: before a command changes any host, every host's cluster record and
/// CA certificates are read (one command per host, in parallel) and compared with the state directory.
/// A host carrying another cluster's record or a CA the state does not trust stops the command before
/// anything is written, locally or remotely.
public enum ClusterIdentityGuard {
    public static let phaseName = "cluster-identity"

    /// Reads every reachable host and compares; throws `WorkflowError.identityMismatch` when a host belongs
    /// to another cluster. Hosts that do not answer are not compared (the phases that need them fail on
    /// their own); they are named in a warning.
    public static func check(inventory: Inventory, state: StateDirectory, in ctx: WorkflowContext) async throws -> ClusterIdentityCheck.Outcome {
        let (result, unread) = try await observe(inventory: inventory, state: state, in: ctx)
        if let refusal = ClusterIdentityCheck.refusal(result, state: state, inventoryName: inventory.name) {
            throw WorkflowError.identityMismatch(refusal)
        }
        if !unread.isEmpty {
            await ctx.emit(.warning, "warning: cluster identity not checked on \(unread.joined(separator: ", ")) (no answer)")
        }
        return result
    }

    /// The comparison without the verdict (for `status`): each host's standing, and the hosts that did not answer.
    public static func observe(inventory: Inventory, state: StateDirectory, in ctx: WorkflowContext) async throws
        -> (outcome: ClusterIdentityCheck.Outcome, unread: [String]) {
        let trusted = try TrustedIdentity.load(inventory: inventory, state: state)
        let outcomes = await FanOut.run(inventory.hosts.map(\.name), name: { $0 }) { host in
            try await read(host, in: ctx)
        }
        var observed: [HostIdentity] = []
        var unread: [String] = []
        for outcome in outcomes {
            switch outcome.result {
            case .success(let identity): observed.append(identity)
            case .failure(let error as PKIError): throw WorkflowError.identityMismatch("\(error)\nNothing was changed.")
            case .failure: unread.append(outcome.host)
            }
        }
        return (ClusterIdentityCheck.evaluate(trusted: trusted, hosts: observed), unread)
    }

    /// One host's record and CA fingerprints, read without changing anything.
    static func read(_ host: String, in ctx: WorkflowContext) async throws -> HostIdentity {
        let connection = try await ctx.reader(host)
        let result = try await connection.run(ShellCommand("sh", "-c", HostIdentity.readScript()))
        guard result.succeeded else {
            throw HostError.commandFailed(host: host, command: "read the cluster identity", exitStatus: result.exitStatus, stderr: result.stderrText)
        }
        return try HostIdentity.parse(host: host, output: result.stdoutText)
    }

    /// The first phase of every `apply`: checks the identity, keeps the cluster record in the state
    /// directory (a new UID for a new cluster) and writes it to every host that lacks it — before the PKI
    /// phase creates anything, so a refused run leaves no trace anywhere.
    public static func phase(inventory: Inventory, state: StateDirectory) -> Phase {
        Phase(phaseName, concerning: inventory.hosts.map(\.name),
              next: "nothing was changed; fix the state directory as described above and run the command again") { ctx in
            let outcome = try await check(inventory: inventory, state: state, in: ctx)
            let stored = try state.clusterRecord()
            let record = outcome.record ?? stored ?? ClusterRecord.new(cluster: inventory.name)
            if stored != record {
                try await ctx.changeState("record cluster \(inventory.name) uid \(record.uid) in \(state.path(ClusterRecord.statePath))") {
                    try state.saveClusterRecord(record)
                }
            }
            try await HostRoster.record(inventory, state: state, in: ctx)
            let content = try record.encoded()
            let hosts = outcome.needingRecord
            let failures = await FanOut.run(hosts, name: { $0 }) { host in
                try await ctx.ensureFile(host, ManagedFile(path: ClusterRecord.hostPath, content: content,
                                                           attributes: FileAttributes(mode: 0o644, owner: "root:root")))
            }.filter { $0.error != nil }
            if let failure = failures.first, let error = failure.error {
                throw WorkflowError.hostFailed(host: failures.map(\.host).joined(separator: ", "), what: "write the cluster record",
                                               reason: "\(error)", next: "fix the cause and run the command again")
            }
        }
    }
}
