import Foundation
import Inventory
import PKI

/// The control-plane phase: kube-apiserver, kube-controller-manager and kube-scheduler on each
/// control-plane host, one host at a time; a changed host must answer `/livez` and `/readyz` before the
/// next one is touched.
public enum ControlPlaneWorkflow {
    public static let phaseName = "control-plane"

    public static func phases(inventory: Inventory, pki: ClusterFiles, artifacts: NodeArtifacts,
                              settings: KubernetesInstallSettings = KubernetesInstallSettings()) throws -> [Phase] {
        phases(inventory: inventory, settings: settings,
               prepared: RunData(fixed: try prepare(inventory: inventory, pki: pki, artifacts: artifacts, settings: settings)))
    }

    /// The same phase with the PKI and artifacts of the run; it waits for the PKI in a plan made before it exists.
    static func phases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings) -> [Phase] {
        phases(inventory: inventory, settings: settings, prepared: inputs.map { inputs in
            try inputs.pki.map { try prepare(inventory: inventory, pki: $0, artifacts: inputs.artifacts, settings: settings) }
        })
    }

    /// Each control-plane host's files, and the binaries they run.
    struct Prepared: Sendable {
        var files: [String: ControlPlaneFiles]
        var binaries: [InstallableFile]
        /// Remote path by binary name.
        var byName: [String: String]
    }

    static func prepare(inventory: Inventory, pki: ClusterFiles, artifacts: NodeArtifacts, settings: KubernetesInstallSettings) throws -> Prepared {
        guard inventory.isSelfManaged else {
            throw WorkflowError.refused(what: "install a control plane", found: "the cluster is managed: the provider runs its control plane",
                                        next: "Remove the control-plane phases for managed clusters")
        }
        var rendered: [String: ControlPlaneFiles] = [:]
        for host in inventory.controlPlaneHosts {
            var files = try ControlPlaneFiles.render(host: host, inventory: inventory, files: pki, renderer: settings.renderer)
            files.pki = files.pki.filter { $0.path != "/etc/kubernetes/kubelet.conf" && $0.path != "/etc/kubernetes/kube-proxy.conf" }
            rendered[host.name] = files
        }
        let binaries = try artifacts.binaries(ReleaseCatalog.controlPlaneBinaries + ReleaseCatalog.clientBinaries)
        let byName = Dictionary(uniqueKeysWithValues: binaries.map { (($0.remotePath as NSString).lastPathComponent, $0.remotePath) })
        return Prepared(files: rendered, binaries: binaries, byName: byName)
    }

    private static func phases(inventory: Inventory, settings: KubernetesInstallSettings, prepared: RunData<Prepared?>) -> [Phase] {
        let hosts = inventory.controlPlaneHosts
        let gate = settings.healthGate
        let addresses = Dictionary(uniqueKeysWithValues: hosts.map { ($0.name, $0.clusterAddress) })
        return [
            Phase(phaseName, hosts: hosts.map(\.name), execution: .serial,
                  next: "fix the failing host and run the command again; while an API server runs, hosts after a failing one are not changed") { ctx, host in
                guard let run = try await prepared.value(in: ctx) else { return try await KubernetesWorkflow.waitForPKI(ctx, host, phaseName) }
                guard let files = run.files[host], let address = addresses[host] else { throw WorkflowError.unknownHost(host) }
                let binaries = run.binaries
                try await files.survey(ctx, host, binaries: binaries)
                var pkiChanged = false
                for file in files.pki where try await ctx.ensureFile(host, file) { pkiChanged = true }
                let installed = try await BinaryInstaller.ensure(ctx, host, binaries)
                func binaryChanged(_ name: String) -> Bool { run.byName[name].map(installed.contains) ?? false }
                let units = try await ServiceSpec.ensure(ctx, host, [
                    (files.apiServer, pkiChanged || binaryChanged("kube-apiserver")),
                    (files.controllerManager, pkiChanged || binaryChanged("kube-controller-manager")),
                    (files.scheduler, pkiChanged || binaryChanged("kube-scheduler")),
                ])
                if pkiChanged || units.contains(where: \.changed) {
                    let url = HealthGate.url(address, files.context.securePort)
                    try await ctx.gate { try await gate.wait(ctx, host: host, url: url, caFile: files.context.pkiDir + "/ca.crt") }
                }
                // After the restart: the API server no longer names them.
                try await files.removeStale(ctx, host)
            }
            .surveying { ctx, host in
                guard let run = try await prepared.value(in: ctx) else { return }
                guard let files = run.files[host] else { throw WorkflowError.unknownHost(host) }
                try await files.survey(ctx, host, binaries: run.binaries)
            }
            // One host at a time keeps the API available; before any API server runs there is none to keep.
            .allAtOnce { ctx, hosts in
                guard let run = try await prepared.value(in: ctx) else { return false }
                for host in hosts {
                    guard let unit = run.files[host]?.apiServer.unit,
                          let state = try await ctx.unitStates(host, [unit])[unit], state.loadState == "not-found" || !state.isRunning else { return false }
                }
                return true
            }
            .reading(prepared),
        ]
    }
}

/// The whole Kubernetes install in order, for `capstan apply`.
public enum KubernetesWorkflow {
    /// `phases(inventory:inputs:settings:)` with the PKI and artifacts known up front (no preparing phase):
    /// each phase renders what it installs when it first reads them in a run.
    public static func phases(inventory: Inventory, pki: ClusterFiles?, artifacts: NodeArtifacts,
                              settings: KubernetesInstallSettings = KubernetesInstallSettings()) throws -> [Phase] {
        if inventory.isSelfManaged && pki == nil {
            throw WorkflowError.internalInvariant("a self-managed cluster needs its PKI state to install the control plane and kubelets")
        }
        return phases(inventory: inventory, inputs: RunData(fixed: KubernetesInputs(pki: pki, artifacts: artifacts)), settings: settings)
    }

    /// The Kubernetes part of `apply`, the one list of its phases. Self-managed: node preparation on every
    /// node, the control plane host by host, the VIP, the node-local balancers, then kubelet and kube-proxy.
    /// Managed: node preparation and the join on the worker hosts only. PKI and etcd phases come before
    /// these; the PKI and artifacts come from the run (`inputs`, set by `kubernetes-artifacts` in `apply`).
    static func phases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings) -> [Phase] {
        guard inventory.isSelfManaged else {
            return ManagedJoin.phases(inventory: inventory, inputs: inputs, settings: settings)
        }
        return WorkerWorkflow.preparationPhases(inventory: inventory, inputs: inputs, settings: settings)
            + ControlPlaneWorkflow.phases(inventory: inventory, inputs: inputs, settings: settings)
            + ControlPlaneVIP.phases(inventory: inventory, inputs: inputs, settings: settings)
            + NodeBalancer.phases(inventory: inventory, inputs: inputs, settings: settings)
            + WorkerWorkflow.phases(inventory: inventory, inputs: inputs, settings: settings)
    }
}
