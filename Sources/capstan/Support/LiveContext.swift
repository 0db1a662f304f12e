import Foundation
import Hosts
import Inventory
import PKI
import SSH
import Workflows

/// Composition root for runs against real hosts: the SSH connector, the output for this terminal or
/// pipe, the clock, and the artifact store the inventory names.
enum LiveContext {
    /// Terminal output (status lines redrawn in place) when stdout is a TTY, timestamped lines otherwise,
    /// one JSON object per event with `--output json`.
    static func output(_ format: OutputFormat) -> any OutputSink {
        let write: TextWriter = { text in FileHandle.standardOutput.write(Data(text.utf8)) }
        switch format {
        case .json: return JSONOutput(write: write)
        case .text: return isatty(STDOUT_FILENO) == 1 ? TerminalOutput(write: write) : PlainOutput(write: write)
        }
    }

    /// A context over every inventory host (connections open on first use).
    private static func make(
        inventory: Inventory, mode: WorkflowMode, options: WorkflowOptions, output: any OutputSink,
        now: @escaping @Sendable () -> Date
    ) -> (context: WorkflowContext, connector: TransportConnector) {
        let connector = HostEndpoints.connector(for: inventory)
        let endpoints = inventory.hosts.map { HostEndpoints.endpoint(for: $0, in: inventory) }
        let peers = inventory.artifacts.peerTransfer
            ? Dictionary(inventory.hosts.map { ($0.name, $0.clusterAddress) }, uniquingKeysWith: { first, _ in first }) : nil
        var options = options
        options.concurrency = inventory.concurrency
        let context = WorkflowContext(mode: mode, options: options, connector: connector, endpoints: endpoints, output: output, now: now,
                                      peerAddresses: peers)
        return (context, connector)
    }

    /// Runs `body` with a context over every inventory host, then closes the context's connections and
    /// the connector's shared ones (bastion sessions, OpenSSH masters), also when `body` throws.
    /// `checkIdentity`: commands that change hosts first compare every host's cluster identity with the
    /// state directory and stop before `body` on a mismatch (`ClusterIdentityGuard`).
    static func run<T>(
        inventory: Inventory, mode: WorkflowMode, options: WorkflowOptions = WorkflowOptions(), output: any OutputSink,
        now: @escaping @Sendable () -> Date = { Date() }, checkIdentity: Bool = false, _ body: (WorkflowContext) async throws -> T
    ) async throws -> T {
        let (context, connector) = make(inventory: inventory, mode: mode, options: options, output: output, now: now)
        do {
            if checkIdentity {
                _ = try await ClusterIdentityGuard.check(inventory: inventory, state: StateDirectory(inventory: inventory), in: context)
            }
            let value = try await body(context)
            await context.closeAll()
            await connector.closeAll()
            return value
        } catch {
            await context.closeAll()
            await connector.closeAll()
            throw error
        }
    }

    /// The hosts among `hosts` that do not run a trivial command (all at once), with the SSH layer's reason.
    static func unreachable(_ hosts: [String], in context: WorkflowContext) async -> [String: String] {
        let outcomes = await FanOut.run(hosts, name: { $0 }) { host in
            _ = try await context.reader(host).check(ShellCommand("true"), options: RunOptions(timeoutSeconds: 30))
        }
        var out: [String: String] = [:]
        for outcome in outcomes { if let error = outcome.error { out[outcome.host] = "\(error)" } }
        return out
    }

    /// The phases of `apply` for `inventory`, with the artifact source and the backup store as this machine reaches them.
    static func phases(_ inventory: Inventory, kubernetes: KubernetesInstallSettings = KubernetesInstallSettings()) throws -> ClusterPhases {
        ClusterPhases(inventory: inventory, artifacts: try ArtifactStore(for: inventory), kubernetes: kubernetes,
                      backupStore: { try await BackupSetup.store(inventory) })
    }
}

/// A plain error message for the CLI.
struct ValidationErrorText: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = text }
}
