import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// `node-balancer`: haproxy on 127.0.0.1 of every node without its own API server (`loadBalancer:
/// node-local` or `vip`), one backend per control-plane host, health-checked on `/readyz` over TLS
/// verified against the cluster CA. A changed configuration is applied with `systemctl reload`, which
/// starts a new process and lets the old one drain its connections: kubelets and kube-proxies keep
/// their connections, and nothing else restarts.
public enum NodeBalancer {
    public static let phaseName = "node-balancer"
    public static let configPath = "/etc/haproxy/haproxy.cfg"
    public static let unit = "haproxy.service"
    static let caPath = PKIManager.remotePKIDirectory + "/ca.crt"

    /// The rendered configuration of `host`'s balancer.
    public static func context(host: HostSpec, inventory: Inventory) -> HAProxyContext {
        HAProxyContext(clusterName: inventory.name, nodeName: host.name, port: inventory.controlPlane.localBalancerPort,
                       backends: inventory.controlPlaneHosts.map { HAProxyContext.Backend(name: $0.name, address: $0.clusterAddress) },
                       caFile: caPath)
    }

    /// The balancer phase of `apply`'s list, with the PKI of the run; nothing when the inventory runs no
    /// node-local balancer (the phase name stays in the plan either way). It waits for the PKI in a plan made
    /// before it exists.
    static func phases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings) -> [Phase] {
        phases(inventory: inventory, prepared: inputs.map { inputs in try inputs.pki.map { try prepare(inventory: inventory, pki: $0, settings: settings) } })
    }

    /// Each balancer host's configuration and the CA it checks the API servers with.
    static func prepare(inventory: Inventory, pki: ClusterFiles, settings: KubernetesInstallSettings) throws -> [String: (config: ManagedFile, ca: ManagedFile)] {
        var prepared: [String: (config: ManagedFile, ca: ManagedFile)] = [:]
        for host in inventory.localBalancerHosts {
            let text = try settings.renderer.render("loadbalancer/haproxy.cfg", context: context(host: host, inventory: inventory))
            guard let ca = try pki.files(for: host).first(where: { $0.path == caPath }) else {
                throw WorkflowError.internalInvariant("\(host.name) gets no \(caPath) from the PKI; the balancer verifies the API servers with it")
            }
            prepared[host.name] = (ManagedFile(path: configPath, text: text, attributes: FileAttributes(mode: 0o644)), ca)
        }
        return prepared
    }

    private static func phases(inventory: Inventory, prepared: RunData<[String: (config: ManagedFile, ca: ManagedFile)]?>) -> [Phase] {
        [
            Phase(phaseName, hosts: inventory.localBalancerHosts.map(\.name),
                  next: "install haproxy on the hosts named above (or fix the error) and run the command again") { ctx, host in
                guard let files = try await prepared.value(in: ctx) else { return try await KubernetesWorkflow.waitForPKI(ctx, host, phaseName) }
                guard let node = files[host] else { throw WorkflowError.unknownHost(host) }
                try await ensure(ctx, host: host, config: node.config, ca: node.ca)
            }
            .surveying { ctx, host in
                try await ctx.survey(host, files: [configPath, caPath], units: [unit])
            }
            .reading(prepared),
        ]
    }

    static let service = PackagedService(package: "haproxy", command: "haproxy", unit: unit, purpose: "the node-local API balancer",
                                         configCheck: ShellCommand("haproxy", "-c", "-q", "-f", configPath))

    static func ensure(_ ctx: WorkflowContext, host: String, config: ManagedFile, ca: ManagedFile) async throws {
        try await service.installIfMissing(ctx, host: host)
        try await ctx.survey(host, files: [configPath, caPath], units: [unit])
        let caChanged = try await ctx.ensureFile(host, ca)
        let configChanged = try await ctx.ensureFile(host, config)
        // A reload starts a new process on the listener; the old one drains its connections.
        try await service.converge(ctx, host: host, changed: configChanged ? "its configuration" : caChanged ? "the cluster CA" : nil)
    }

    /// haproxy reads its CA file only when it (re)loads: after a certificate rotation changed the cluster
    /// CA on `host`, the balancer reloads so its health checks verify API servers with the new bundle.
    static func reloadAfterCAChange(_ ctx: WorkflowContext, host: String) async throws {
        try await ctx.change(host, "systemctl reload \(unit) (the cluster CA changed)", affecting: []) { c in
            try await c.check(ShellCommand(["sh", "-c", "if systemctl is-active --quiet \(unit); then systemctl reload \(unit); fi"]))
        }
    }
}
