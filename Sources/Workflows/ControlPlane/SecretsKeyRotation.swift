import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// `capstan secrets rotate-key`: a new Secrets encryption key, without a moment in which an API server
/// meets a Secret it cannot read.
///
/// 1. reader: the new key is added after the old one on every API server (host by host, each restart
///    gated on /livez and /readyz), so all of them can read what any writes next;
/// 2. writer: the new key goes first, so every API server writes with it;
/// 3. rewritten: every Secret is read and replaced through the API, so etcd holds it under the new key;
/// 4. dropping: the old key is removed from every API server.
///
/// Each step is recorded in the state (`SecretsEncryption.rotation`) before its restarts, and a step only
/// begins once every API server runs the previous one, so a run killed anywhere continues, when run again,
/// by rolling the recorded step to the hosts that do not have it yet. After each state change the
/// backup-schedule phases run again when the inventory has a backup policy: the PKI published to the
/// backup store (which the snapshots reference) then holds every key the snapshots' Secrets need.
public enum SecretsKeyRotation {
    public static let phaseName = "secrets-encryption"

    public struct Outcome: Sendable, Equatable {
        /// The steps this run completed, in order.
        public var steps: [SecretsEncryption.Step]
        /// The key Secrets are written with at the end.
        public var writer: String
        /// Secrets rewritten in step 3 (nil when this run did not reach it).
        public var rewritten: Int?
    }

    /// Rotates (apply) or lists what the rotation would do (plan: the first step's restarts through the
    /// engine, nothing written).
    public static func run(inventory: Inventory, state: StateDirectory, settings: KubernetesInstallSettings,
                           republish: [Phase], stopAfter: SecretsEncryption.Step? = nil, _ ctx: WorkflowContext) async throws -> Outcome {
        guard inventory.isSelfManaged else {
            throw WorkflowError.refused(what: "rotate the Secrets encryption key", found: "the cluster is managed: the provider encrypts its etcd",
                                        next: "use the provider's key management")
        }
        guard var current = try SecretsEncryption.load(state) else {
            throw WorkflowError.refused(what: "rotate the Secrets encryption key", found: "the state has no key yet (\(state.path(SecretsEncryption.path)))",
                                        next: "run `capstan apply` first: its pki phase makes the first key and the control plane reads it")
        }
        var outcome = Outcome(steps: [], writer: current.writer, rewritten: nil)
        if let rotation = current.rotation {
            await ctx.emit(.message, "continuing the key rotation started \(ISO8601DateFormatter().string(from: rotation.startedAt)) (\(rotation.from) → \(rotation.to)) at step \(rotation.step.rawValue)")
            // The recorded step may not have reached every API server before the run stopped.
            try await roll(current, inventory: inventory, state: state, settings: settings, ctx)
        }
        while let next = try current.advanced(now: ctx.now()) {
            guard let step = next.rotation?.step else { break }
            if step == .rewritten {
                outcome.rewritten = try await rewriteSecrets(inventory: inventory, state: state, writer: next.writer, ctx)
            }
            try await record(next, state: state, ctx)
            if await ctx.planEndsHere() {
                try await roll(next, inventory: inventory, state: state, settings: settings, ctx, planned: next)
                await ctx.announce("then: every Secret rewritten with \(next.rotation?.to ?? "the new key") through the API, the old key dropped from every API server host by host (each step recorded in \(state.path(SecretsEncryption.path)))")
                return outcome
            }
            try await runPhases(republish, ctx)
            try await roll(next, inventory: inventory, state: state, settings: settings, ctx)
            current = next
            outcome.steps.append(step)
            outcome.writer = next.writer
            if step == stopAfter { return outcome }
        }
        // The old key is gone from every API server: the rotation is over.
        var done = current
        done.rotation = nil
        try await record(done, state: state, ctx)
        try await runPhases(republish, ctx)
        return outcome
    }

    /// Writes the encryption record (a state change: recorded, made in apply mode only).
    static func record(_ encryption: SecretsEncryption, state: StateDirectory, _ ctx: WorkflowContext) async throws {
        let what = encryption.rotation.map { "record key rotation step \($0.step.rawValue) (\($0.from) → \($0.to)) in \(SecretsEncryption.path)" }
            ?? "record the key rotation as finished (\(encryption.writer) only) in \(SecretsEncryption.path)"
        try await ctx.changeState(what) { try encryption.save(in: state) }
    }

    /// Every API server on `encryption`'s configuration, one host at a time: the unit and its inputs as the
    /// control-plane phase converges them, a restart when they changed, then /livez and /readyz.
    static func roll(_ encryption: SecretsEncryption, inventory: Inventory, state: StateDirectory,
                     settings: KubernetesInstallSettings, _ ctx: WorkflowContext, planned: SecretsEncryption? = nil) async throws {
        let pki = try ClusterFiles(inventory: inventory, state: state)
        let hosts = inventory.controlPlaneHosts
        var rendered: [String: ControlPlaneFiles] = [:]
        for host in hosts {
            var files = try ControlPlaneFiles.render(host: host, inventory: inventory, files: pki, renderer: settings.renderer)
            // In a plan the record is not written, so the file comes from the step that would be.
            if let planned {
                files.apiServer.inputs = files.apiServer.inputs.filter { $0.path != SecretsEncryption.hostPath }
                    + [try planned.file(clusterName: inventory.name, renderer: settings.renderer)]
            }
            rendered[host.name] = files
        }
        let gate = settings.healthGate
        let prepared = rendered
        let phase = Phase(phaseName, hosts: hosts.map(\.name), execution: .serial,
                          next: "fix the API server on the failing host and run `capstan secrets rotate-key` again: it continues from the recorded step") { ctx, host in
            guard let files = prepared[host], let address = hosts.first(where: { $0.name == host })?.clusterAddress else { throw WorkflowError.unknownHost(host) }
            // A run killed between writing the configuration and restarting left the file converged and the
            // API server on the previous step: restart it too, or the next step would rest on a stale server.
            let stale = try await ctx.runsOlderFiles(host, unit: files.apiServer.unit, paths: [SecretsEncryption.hostPath])
            let change = try await ServiceSpec.ensure(ctx, host, [(files.apiServer, stale)])
            guard change.contains(where: \.changed) else { return }
            let url = HealthGate.url(address, files.context.securePort)
            try await ctx.gate { try await gate.wait(ctx, host: host, url: url, caFile: files.context.pkiDir + "/ca.crt") }
        }
        try await runPhases([phase], ctx)
    }

    static func runPhases(_ phases: [Phase], _ ctx: WorkflowContext) async throws {
        guard !phases.isEmpty else { return }
        _ = try await PhaseRunner().run(Workflow(name: "secrets rotate-key", phases: phases), in: ctx)
    }

    /// Step 3: every Secret read and replaced through the API server next to the first control-plane host
    /// (kubectl with the break-glass credential, as the cluster-objects phase runs it), so each is stored
    /// again under the writer key. A Secret changed between the read and the replace fails the step
    /// (a conflict); running again reads afresh.
    static func rewriteSecrets(inventory: Inventory, state: StateDirectory, writer: String, _ ctx: WorkflowContext) async throws -> Int {
        guard let host = inventory.controlPlaneHosts.first?.name else { return 0 }
        guard let credential = try state.read(try ClusterObjectsPhase.superAdminPath(inventory)) else {
            throw WorkflowError.missingStateFile(path: state.path(try ClusterObjectsPhase.superAdminPath(inventory)), host: host, remotePath: "(kubectl's credential, never stored on hosts)")
        }
        let client = Kubectl(host: host, kubectl: NodeArtifacts.binDir + "/kubectl", credential: credential)
        let listed = try await client.run(["get", "secrets", "--all-namespaces", "-o", "json"], input: nil, in: ctx)
        guard listed.succeeded else { throw client.failure("list the Secrets to rewrite", listed) }
        let count = ((try? JSONSerialization.jsonObject(with: listed.stdout)) as? [String: Any])?["items"].flatMap { $0 as? [Any] }?.count ?? 0
        let list = listed.stdoutText
        try await ctx.change(host, "rewrite \(count) Secret(s) through the API so etcd holds them under \(writer)") { _ in
            guard count > 0 else { return }
            let replaced = try await client.run(["replace", "-f", "-"], input: list, in: ctx)
            guard replaced.succeeded else { throw client.failure("rewrite the Secrets", replaced) }
        }
        return count
    }
}
