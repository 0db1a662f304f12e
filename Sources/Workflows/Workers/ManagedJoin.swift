import Foundation
import Hosts
import Inventory
import Templates

/// Managed mode: the provider owns the control plane; the inventory's worker hosts join its endpoint
/// through kubelet TLS bootstrap with the provider's CA and the given join credentials.
public enum ManagedJoin {
    public static let phaseName = "managed-join"
    public static let bootstrapKubeconfigPath = "/etc/kubernetes/bootstrap-kubelet.conf"
    public static let caPath = "/etc/kubernetes/pki/ca.crt"

    /// The kubelet's bootstrap kubeconfig: rendered from a bootstrap token (server = the provider's
    /// endpoint, CA = `caFile`), or the user's kubeconfig file as it is.
    public static func bootstrapKubeconfig(inventory: Inventory, renderer: TemplateRenderer = TemplateRenderer()) throws -> String {
        let managed = try spec(inventory)
        switch managed.joinCredentials {
        case .kubeconfigFile(let path):
            return try read(path, what: "join kubeconfig", inventory: inventory)
        case .bootstrapTokenFile(let path):
            let token = try read(path, what: "bootstrap token file", inventory: inventory).trimmingCharacters(in: .whitespacesAndNewlines)
            guard isBootstrapToken(token) else {
                throw WorkflowError.namedFile("\(resolve(path, inventory)): not a bootstrap token (expected [a-z0-9]{6}.[a-z0-9]{16}, e.g. abcdef.0123456789abcdef; create one with `kubeadm token create` or the provider's tooling)")
            }
            let ca = try read(managed.caFile, what: "provider CA file", inventory: inventory)
            let context = KubeletBootstrapContext(clusterName: inventory.name, server: managed.apiEndpoint,
                                                  caData: Data(ca.utf8).base64EncodedString(), token: token)
            return try renderer.render("kubernetes/bootstrap-kubelet.conf", context: context)
        }
    }

    static func isBootstrapToken(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789")
        return parts.count == 2 && parts[0].count == 6 && parts[1].count == 16 && parts.allSatisfy { $0.allSatisfy(allowed.contains) }
    }

    /// Node preparation on the worker hosts, then `managed-join`: provider CA, bootstrap kubeconfig,
    /// kubelet binary and a kubelet started with `--bootstrap-kubeconfig`. No PKI, etcd or control plane.
    public static func phases(inventory: Inventory, artifacts: NodeArtifacts, settings: KubernetesInstallSettings = KubernetesInstallSettings()) throws -> [Phase] {
        let prepared = try prepare(inventory: inventory, artifacts: artifacts, settings: settings)
        return try WorkerWorkflow.preparationPhases(inventory: inventory, artifacts: artifacts, settings: settings, hosts: inventory.workerHosts)
            + [joinPhase(inventory: inventory, prepared: RunData(fixed: prepared))]
    }

    /// The same phases with the artifacts of the run.
    static func phases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings) -> [Phase] {
        WorkerWorkflow.preparationPhases(inventory: inventory, inputs: inputs, settings: settings, hosts: inventory.workerHosts)
            + [joinPhase(inventory: inventory, prepared: inputs.map { try prepare(inventory: inventory, artifacts: $0.artifacts, settings: settings) })]
    }

    /// The join's files: the provider CA, the bootstrap kubeconfig, each worker's kubelet files and binary.
    struct Prepared: Sendable {
        var ca: ManagedFile
        var bootstrap: ManagedFile
        var nodes: [String: NodeFiles]
        var kubelet: [InstallableFile]
    }

    static func prepare(inventory: Inventory, artifacts: NodeArtifacts, settings: KubernetesInstallSettings) throws -> Prepared {
        let managed = try spec(inventory)
        let workers = inventory.workerHosts
        guard !workers.isEmpty else {
            throw WorkflowError.inventory("the managed cluster \(inventory.name) has no host with the worker role to join")
        }
        let bootstrap = ManagedFile(path: bootstrapKubeconfigPath, text: try bootstrapKubeconfig(inventory: inventory, renderer: settings.renderer),
                                    attributes: FileAttributes(mode: 0o600), secret: true)
        let ca = ManagedFile(path: caPath, text: try read(managed.caFile, what: "provider CA file", inventory: inventory))
        var rendered: [String: NodeFiles] = [:]
        for host in workers {
            rendered[host.name] = try NodeFiles.render(host: host, inventory: inventory, versions: artifacts.versions,
                                                       renderer: settings.renderer, bootstrapKubeconfig: bootstrapKubeconfigPath)
        }
        return Prepared(ca: ca, bootstrap: bootstrap, nodes: rendered, kubelet: try artifacts.binaries(["kubelet"]))
    }

    private static func joinPhase(inventory: Inventory, prepared: RunData<Prepared>) -> Phase {
        Phase(phaseName, hosts: inventory.workerHosts.map(\.name)) { ctx, host in
            let run = try await prepared.value(in: ctx)
            guard let node = run.nodes[host] else { throw WorkflowError.unknownHost(host) }
            let caChanged = try await ctx.ensureFile(host, run.ca)
            let bootstrapChanged = try await ctx.ensureFile(host, run.bootstrap)
            let binaries = try await BinaryInstaller.ensure(ctx, host, run.kubelet)
            try await node.kubelet.ensure(ctx, host, dependenciesChanged: caChanged || bootstrapChanged || !binaries.isEmpty)
        }
        .surveying { ctx, host in
            let run = try await prepared.value(in: ctx)
            guard let node = run.nodes[host] else { throw WorkflowError.unknownHost(host) }
            try await ctx.survey(host, files: [run.ca.path, run.bootstrap.path] + node.kubelet.paths, largeFiles: run.kubelet.map(\.remotePath), units: [node.kubelet.unit])
        }
        .reading(prepared)
    }

    static func spec(_ inventory: Inventory) throws -> ManagedSpec {
        guard !inventory.isSelfManaged, let managed = inventory.controlPlane.managed else {
            throw WorkflowError.inventory("\(inventory.name) is not a managed cluster (controlPlane.mode: managed with a managed section)")
        }
        return managed
    }

    static func resolve(_ path: String, _ inventory: Inventory) -> String {
        InventoryLoader.resolve(path, relativeTo: inventory.sourcePath)
    }

    static func read(_ path: String, what: String, inventory: Inventory) throws -> String {
        let full = resolve(path, inventory)
        guard let data = FileManager.default.contents(atPath: full) else {
            throw WorkflowError.namedFile("cannot read the \(what) \(full): check controlPlane.managed in the inventory")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Operations that only make sense when Capstan owns the control plane.
public enum SelfManagedOperation: String, Sendable, CaseIterable {
    case etcdBackup = "etcd backup"
    case etcdRestore = "etcd restore"
    case etcdStatus = "etcd status"
    case controlPlaneCertRotation = "control-plane certificate rotation"
    case secretsKeyRotation = "Secrets encryption key rotation"
    case serviceAccountKeyRotation = "service-account key rotation"
    case controlPlaneAudit = "control-plane audit"
}

public enum ManagedMode {
    /// The one-line reason `operation` is refused for a managed cluster.
    public static func refusal(for operation: SelfManagedOperation, provider: ManagedProvider? = nil) -> String {
        let owner = provider.map { $0 == .other ? $0.displayName : "the provider (\($0.displayName))" } ?? "the provider"
        switch operation {
        case .etcdBackup:
            return "\(owner) runs etcd for this managed cluster and backs it up; Capstan has no access to its etcd"
        case .etcdRestore:
            return "\(owner) runs etcd for this managed cluster; restores go through the provider's own backup and restore"
        case .etcdStatus:
            return "\(owner) runs etcd for this managed cluster; Capstan cannot see its members"
        case .controlPlaneCertRotation:
            return "\(owner) owns the control plane and its certificates; only the kubelet client certificates rotate on the nodes"
        case .secretsKeyRotation:
            return "\(owner) runs the API servers and etcd of this managed cluster and encrypts its Secrets; use the provider's key management"
        case .controlPlaneAudit:
            return "\(owner) runs the control plane and etcd of this managed cluster; use the provider's benchmark report for them"
        case .serviceAccountKeyRotation:
            return "\(owner) runs the API servers of this managed cluster and signs its service-account tokens; use the provider's key rotation"
        }
    }

    /// The refusal for `inventory`, nil when the cluster is self-managed.
    public static func refusal(for operation: SelfManagedOperation, inventory: Inventory) -> String? {
        inventory.isSelfManaged ? nil : refusal(for: operation, provider: inventory.controlPlane.managed?.provider)
    }
}
