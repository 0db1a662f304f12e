import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// The rendered units and configs of one control-plane host.
struct ControlPlaneFiles: Sendable {
    var apiServer: ServiceSpec
    var controllerManager: ServiceSpec
    var scheduler: ServiceSpec
    var pki: [ManagedFile]
    var context: ControlPlaneContext

    static func render(host: HostSpec, inventory: Inventory, files: ClusterFiles, renderer: TemplateRenderer) throws -> ControlPlaneFiles {
        let etcdServers = inventory.etcdMembers.map { HealthGate.url($0.clusterAddress, 2379) }
        guard !etcdServers.isEmpty else {
            throw WorkflowError.inventory("the inventory has no etcd members for the API server of \(host.name): give hosts the etcd role (or the control-plane role with topology: stacked)")
        }
        let context = ControlPlaneContext(
            clusterName: inventory.name, nodeName: host.name, advertiseAddress: host.clusterAddress, etcdServers: etcdServers,
            serviceCIDR: inventory.network.serviceCIDR.description, podCIDR: inventory.network.podCIDR.description,
            clusterDomain: inventory.network.clusterDomain, clusterSigning: files.clusterSigning,
            nodeCIDRMaskSize: inventory.network.nodeSubnetSize, hasAdmissionConfig: inventory.controlPlane.podSecurity != nil,
            apiServerFlags: (inventory.controlPlane.oidc?.flags ?? []) + ComponentFlags.merged(.apiServer, extraArgs: inventory.extraArgs),
            controllerManagerFlags: ComponentFlags.merged(.controllerManager, extraArgs: inventory.extraArgs),
            schedulerFlags: ComponentFlags.merged(.scheduler, extraArgs: inventory.extraArgs))
        let pki = try files.files(for: host)
        func unit(_ name: String) throws -> ManagedFile {
            ManagedFile(path: "/etc/systemd/system/\(name)", text: try renderer.render("kubernetes/\(name)", context: context))
        }
        let audit = ManagedFile(path: context.auditPolicyFile, text: try renderer.render("kubernetes/audit-policy.yaml", context: context), attributes: FileAttributes(mode: 0o600))
        guard let encryption = try SecretsEncryption.load(files.state) else {
            throw WorkflowError.missingStateFile(path: files.state.path(SecretsEncryption.path), host: host.name, remotePath: SecretsEncryption.hostPath)
        }
        var extraInputs: [ManagedFile] = []
        if let podSecurity = inventory.controlPlane.podSecurity {
            let text = try renderer.render("kubernetes/admission-config.yaml", context: AdmissionContext(
                clusterName: inventory.name, enforce: podSecurity.enforce.rawValue, audit: podSecurity.audit.rawValue,
                warn: podSecurity.warn.rawValue, version: podSecurity.version, usernames: podSecurity.exemptUsernames,
                namespaces: podSecurity.exemptNamespaces, runtimeClasses: podSecurity.exemptRuntimeClasses))
            extraInputs = [ManagedFile(path: context.admissionConfigFile, text: text, attributes: FileAttributes(mode: 0o600))]
        }
        if let caFile = inventory.controlPlane.oidc?.caFile {
            guard let pem = FileManager.default.contents(atPath: caFile), String(decoding: pem, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
                throw WorkflowError.namedFile("spec.controlPlane.oidc.caFile: cannot read a PEM certificate from \(caFile)")
            }
            extraInputs.append(ManagedFile(path: OIDCSpec.hostCAPath, content: pem))
        }
        return ControlPlaneFiles(
            apiServer: ServiceSpec(unit: "kube-apiserver.service", unitFile: try unit("kube-apiserver.service"),
                                   inputs: [audit, try encryption.file(clusterName: inventory.name, renderer: renderer)] + extraInputs),
            controllerManager: ServiceSpec(unit: "kube-controller-manager.service", unitFile: try unit("kube-controller-manager.service"), inputs: []),
            scheduler: ServiceSpec(unit: "kube-scheduler.service", unitFile: try unit("kube-scheduler.service"), inputs: []),
            pki: pki, context: context)
    }

    /// Reads everything the control-plane phase compares on `host` in one command.
    func survey(_ ctx: WorkflowContext, _ host: String, binaries: [InstallableFile]) async throws {
        let services = [apiServer, controllerManager, scheduler]
        try await ctx.survey(host, files: pki.map(\.path) + services.flatMap(\.paths) + stale.map(\.path), largeFiles: binaries.map(\.remotePath),
                             units: services.map(\.unit))
    }

    /// Files the API server reads only while an inventory key is set, with the key: once the key is gone (and the
    /// API server restarted without the flag naming the file), apply removes them.
    static let optionalInputs = [(path: ControlPlaneContext.admissionConfigPath, key: "spec.controlPlane.podSecurity"),
                                 (path: OIDCSpec.hostCAPath, key: "spec.controlPlane.oidc.caFile")]

    /// The optional inputs this render does not write.
    var stale: [(path: String, key: String)] {
        Self.optionalInputs.filter { optional in !apiServer.inputs.contains { $0.path == optional.path } }
    }

    /// Removes the stale optional inputs still on `host`; the phase's survey has read whether they exist.
    func removeStale(_ ctx: WorkflowContext, _ host: String) async throws {
        for file in stale where try await ctx.observe(host, file.path) != .absent {
            try await ctx.change(host, "remove \(file.path) (\(file.key) is no longer set)") { c in
                try await c.check(ShellCommand("rm", "-f", "--", file.path))
            }
        }
    }
}
