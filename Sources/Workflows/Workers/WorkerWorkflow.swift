import Foundation
import Inventory
import Templates

/// Phases for every node (control-plane and worker hosts): pre-flight, kernel settings, container
/// runtime, then kubelet and kube-proxy. Built up front from the inventory: templates are rendered and
/// PKI files read before any host is touched, so a bad template or missing certificate fails early.
public enum WorkerWorkflow {
    public static let preflightPhase = "node-preflight"
    public static let kernelPhase = "node-kernel"
    public static let runtimePhase = "node-runtime"
    public static let imagesPhase = "node-images"
    public static let kubeletPhase = "node-kubelet"

    /// Hosts that run a kubelet, in inventory order.
    static func nodes(_ inventory: Inventory) -> [HostSpec] {
        inventory.hosts.filter { $0.has(.controlPlane) || $0.has(.worker) }
    }

    /// `node-preflight`, `node-kernel`, `node-runtime`, `node-images` on `hosts` (default: every node), built
    /// from artifacts known up front; a broken template fails here.
    public static func preparationPhases(inventory: Inventory, artifacts: NodeArtifacts, settings: KubernetesInstallSettings = KubernetesInstallSettings(),
                                         hosts: [HostSpec]? = nil) throws -> [Phase] {
        let targets = hosts ?? nodes(inventory)
        let prepared = try preparation(targets, inventory: inventory, artifacts: artifacts, settings: settings)
        return preparationPhases(inventory: inventory, hosts: targets, settings: settings, prepared: RunData(fixed: prepared))
    }

    /// The same phases with the artifacts of the run (`KubernetesWorkflow.deferredPhases`).
    static func preparationPhases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings,
                                  hosts: [HostSpec]? = nil) -> [Phase] {
        let targets = hosts ?? nodes(inventory)
        return preparationPhases(inventory: inventory, hosts: targets, settings: settings,
                                 prepared: inputs.map { try preparation(targets, inventory: inventory, artifacts: $0.artifacts, settings: settings) })
    }

    /// What the preparation phases install: each host's rendered files and the run's artifacts.
    struct Preparation: Sendable {
        var files: [String: NodeFiles]
        var artifacts: NodeArtifacts

        func node(_ host: String) throws -> NodeFiles {
            guard let node = files[host] else { throw WorkflowError.unknownHost(host) }
            return node
        }
    }

    static func preparation(_ targets: [HostSpec], inventory: Inventory, artifacts: NodeArtifacts, settings: KubernetesInstallSettings) throws -> Preparation {
        var rendered: [String: NodeFiles] = [:]
        for host in targets {
            rendered[host.name] = try NodeFiles.render(host: host, inventory: inventory, versions: artifacts.versions, renderer: settings.renderer)
        }
        return Preparation(files: rendered, artifacts: artifacts)
    }

    private static func preparationPhases(inventory: Inventory, hosts targets: [HostSpec], settings: KubernetesInstallSettings,
                                          prepared: RunData<Preparation>) -> [Phase] {
        let names = targets.map(\.name)
        let controlPlane = Set(targets.filter { $0.has(.controlPlane) && inventory.isSelfManaged }.map(\.name))
        let requirements = settings.preflight
        return [
            Phase(preflightPhase, hosts: names, next: "fix the problems listed for each host and run the command again") { ctx, host in
                try await NodePreflight.check(ctx, host: host, controlPlane: controlPlane.contains(host), requirements: requirements)
            }
            .surveying { ctx, host in
                try await NodePreflight.survey(ctx, host: host, controlPlane: controlPlane.contains(host), requirements: requirements)
            },
            Phase(kernelPhase, hosts: names) { ctx, host in
                try await KernelSetup.ensure(ctx, host: host, files: try await prepared.value(in: ctx).node(host).kernel)
            }
            .surveying { ctx, host in
                try await KernelSetup.survey(ctx, host: host, files: try await prepared.value(in: ctx).node(host).kernel)
            }
            .reading(prepared),
            Phase(runtimePhase, hosts: names) { ctx, host in
                let run = try await prepared.value(in: ctx)
                let node = try run.node(host)
                let binaries = try await BinaryInstaller.ensure(ctx, host, run.artifacts.runtime)
                let containerdBinaries = binaries.contains { $0.hasPrefix(NodeArtifacts.binDir + "/containerd") || $0 == NodeArtifacts.runcPath }
                // containerd reads hosts.toml on every pull: registry files change without a restart.
                try await RegistryFiles.ensure(ctx, host, files: node.registries, registries: node.registryHosts)
                try await node.containerd.ensure(ctx, host, dependenciesChanged: containerdBinaries)
                try await ctx.ensureFile(host, node.crictl)
            }
            .surveying { ctx, host in
                let run = try await prepared.value(in: ctx)
                let node = try run.node(host)
                try await ctx.survey(host, files: node.containerd.paths + [node.crictl.path, RegistryFiles.record] + node.registries.map(\.path),
                                     largeFiles: run.artifacts.runtime.map(\.remotePath), units: [node.containerd.unit])
            }
            .reading(prepared),
            Phase(imagesPhase, hosts: names) { ctx, host in
                try await ImageImport.ensure(ctx, host, try await prepared.value(in: ctx).artifacts.images)
            }
            .reading(prepared),
        ]
    }

    /// The PKI files a node's kubelet and kube-proxy read.
    static let nodeFilePaths = Set(["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/kube-proxy.conf"])
        .union(kubeletServingFiles)
    /// The kubelet's serving pair (`tlsCertFile`, `tlsPrivateKeyFile` of its configuration).
    static let kubeletServingFiles: Set<String> = [KubeletContext.servingCertFile, KubeletContext.servingKeyFile]

    /// `node-kubelet`: kubelet and kube-proxy with their kubeconfigs from the PKI, on every node.
    public static func phases(inventory: Inventory, pki: ClusterFiles, artifacts: NodeArtifacts,
                              settings: KubernetesInstallSettings = KubernetesInstallSettings()) throws -> [Phase] {
        kubeletPhases(inventory: inventory, prepared: RunData(fixed: try kubelets(inventory: inventory, pki: pki, artifacts: artifacts, settings: settings)))
    }

    /// The same phase with the PKI and artifacts of the run; it waits for the PKI in a plan made before it exists.
    static func phases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings) -> [Phase] {
        kubeletPhases(inventory: inventory, prepared: inputs.map { inputs in
            try inputs.pki.map { try kubelets(inventory: inventory, pki: $0, artifacts: inputs.artifacts, settings: settings) }
        })
    }

    /// Each node's kubelet and kube-proxy files with its credentials, and their binaries.
    struct Kubelets: Sendable {
        var nodes: [String: (files: NodeFiles, credentials: [ManagedFile])]
        var kubelet: [InstallableFile]
        var proxy: [InstallableFile]
    }

    static func kubelets(inventory: Inventory, pki: ClusterFiles, artifacts: NodeArtifacts, settings: KubernetesInstallSettings) throws -> Kubelets {
        guard inventory.isSelfManaged else {
            throw WorkflowError.internalInvariant("\(kubeletPhase) is for self-managed clusters; a managed cluster's workers join with ManagedJoin.phases")
        }
        var rendered: [String: (files: NodeFiles, credentials: [ManagedFile])] = [:]
        for host in nodes(inventory) {
            let files = try NodeFiles.render(host: host, inventory: inventory, versions: artifacts.versions, renderer: settings.renderer)
            rendered[host.name] = (files, try pki.files(for: host).filter { nodeFilePaths.contains($0.path) })
        }
        return Kubelets(nodes: rendered, kubelet: try artifacts.binaries(["kubelet"]), proxy: try artifacts.binaries(["kube-proxy"]))
    }

    private static func kubeletPhases(inventory: Inventory, prepared: RunData<Kubelets?>) -> [Phase] {
        [
            Phase(kubeletPhase, hosts: nodes(inventory).map(\.name)) { ctx, host in
                guard let run = try await prepared.value(in: ctx) else { return try await KubernetesWorkflow.waitForPKI(ctx, host, kubeletPhase) }
                guard let (node, credentials) = run.nodes[host] else { throw WorkflowError.unknownHost(host) }
                let (kubelet, proxy) = (run.kubelet, run.proxy)
                var changed: Set<String> = []
                for file in credentials where try await ctx.ensureFile(host, file) { changed.insert(file.path) }
                let binaries = try await BinaryInstaller.ensure(ctx, host, kubelet + proxy)
                let kubeletInputs = kubeletServingFiles.union(["/etc/kubernetes/kubelet.conf"])
                var services = [(node.kubelet, !changed.isDisjoint(with: kubeletInputs) || !binaries.isDisjoint(with: kubelet.map(\.remotePath)))]
                if let kubeProxy = node.kubeProxy {
                    services.append((kubeProxy, changed.contains("/etc/kubernetes/kube-proxy.conf") || !binaries.isDisjoint(with: proxy.map(\.remotePath))))
                }
                try await ServiceSpec.ensure(ctx, host, services)
            }
            .surveying { ctx, host in
                guard let run = try await prepared.value(in: ctx) else { return }
                guard let (node, credentials) = run.nodes[host] else { throw WorkflowError.unknownHost(host) }
                let services = [node.kubelet] + (node.kubeProxy.map { [$0] } ?? [])
                try await ctx.survey(host, files: credentials.map(\.path) + services.flatMap(\.paths), largeFiles: (run.kubelet + run.proxy).map(\.remotePath),
                                     units: services.map(\.unit))
            }
            .reading(prepared),
        ]
    }
}
