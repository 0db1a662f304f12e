import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// `control-plane-vip`: keepalived on every control-plane host (`loadBalancer: vip`) holding the
/// endpoint's address: VRRP with unicast peers, a priority order (inventory order), no preemption, and a
/// track script on the local API server's /readyz, so the address stays on a host whose API server answers.
public enum ControlPlaneVIP {
    public static let phaseName = "control-plane-vip"
    public static let configPath = "/etc/keepalived/keepalived.conf"
    public static let unit = "keepalived.service"

    static let service = PackagedService(package: "keepalived", command: "keepalived", unit: unit, purpose: "the API virtual IP",
                                         configCheck: ShellCommand("keepalived", "--config-test", "--use-file", configPath))

    /// The virtual IP: the endpoint's host (validation makes it an IPv4 address).
    public static func address(_ inventory: Inventory) -> String? {
        guard inventory.isSelfManaged, inventory.apiLoadBalancer == .vip, let endpoint = inventory.controlPlane.endpoint else { return nil }
        return Syntax.splitEndpoint(endpoint)?.host
    }

    /// Priorities fall in inventory order from 150; only the first election uses them.
    public static func context(host: HostSpec, inventory: Inventory, address: String, interface: String) -> KeepalivedContext {
        let cps = inventory.controlPlaneHosts
        let index = cps.firstIndex { $0.name == host.name } ?? 0
        return KeepalivedContext(clusterName: inventory.name, nodeName: host.name, address: address, interface: interface,
                                 virtualRouterID: inventory.controlPlane.vip?.virtualRouterID ?? VIPSpec.defaultVirtualRouterID,
                                 priority: max(1, 150 - index), sourceAddress: host.clusterAddress,
                                 peers: cps.filter { $0.name != host.name }.map(\.clusterAddress))
    }

    /// The VIP phase of `apply`'s list (nothing when the inventory has no VIP). The template is rendered
    /// once when the run's inputs are set, to fail before any host is touched when it is broken; in a plan
    /// made before the PKI exists the phase waits with the control plane it fronts.
    static func phases(inventory: Inventory, inputs: RunData<KubernetesInputs>, settings: KubernetesInstallSettings) -> [Phase] {
        guard let address = address(inventory) else { return [Phase(phaseName, hosts: []) { _, _ in }] }
        let ready = inputs.map { inputs -> Bool in
            guard inputs.pki != nil else { return false }
            if let first = inventory.controlPlaneHosts.first {
                _ = try settings.renderer.render("loadbalancer/keepalived.conf", context: context(host: first, inventory: inventory, address: address, interface: "eth0"))
            }
            return true
        }
        let hosts = Dictionary(uniqueKeysWithValues: inventory.controlPlaneHosts.map { ($0.name, $0) })
        let renderer = settings.renderer
        return [
            Phase(phaseName, hosts: inventory.controlPlaneHosts.map(\.name),
                  next: "install keepalived on the hosts named above (or fix the error) and run the command again") { ctx, host in
                guard try await ready.value(in: ctx) else { return try await KubernetesWorkflow.waitForPKI(ctx, host, phaseName) }
                guard let spec = hosts[host] else { throw WorkflowError.unknownHost(host) }
                try await service.installIfMissing(ctx, host: host)
                let interface = try await interfaceName(ctx, host: spec, inventory: inventory)
                let text = try renderer.render("loadbalancer/keepalived.conf", context: context(host: spec, inventory: inventory, address: address, interface: interface))
                try await ctx.survey(host, files: [configPath], units: [unit])
                let changed = try await ctx.ensureFile(host, ManagedFile(path: configPath, text: text, attributes: FileAttributes(mode: 0o640)))
                try await service.converge(ctx, host: host, changed: changed ? "its configuration" : nil)
            }
            .surveying { ctx, host in
                guard try await ready.value(in: ctx) else { return }
                try await ctx.survey(host, files: [configPath], units: [unit])
            }
            .reading(ready),
        ]
    }

    /// `vip.interface`, else the interface that carries the host's own cluster address.
    static func interfaceName(_ ctx: WorkflowContext, host: HostSpec, inventory: Inventory) async throws -> String {
        if let name = inventory.controlPlane.vip?.interface { return name }
        let c = try await ctx.reader(host.name)
        let r = try await c.run(ShellCommand("ip", "-o", "-4", "addr", "show", "to", host.clusterAddress))
        // `2: host0    inet 10.213.0.11/24 brd … scope global host0`
        let fields = r.stdoutText.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) ?? []
        guard r.succeeded, fields.count > 1 else {
            throw WorkflowError.hostFailed(host: host.name, what: "choose the interface for the API virtual IP", reason: "no interface carries \(host.clusterAddress) (ip -o -4 addr show to \(host.clusterAddress))",
                                           next: "set spec.controlPlane.vip.interface to the interface of the control-plane network")
        }
        return String(fields[1]).split(separator: "@").first.map(String.init) ?? String(fields[1])
    }
}
