import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// Capstan's default pod network (`spec.network.plugin: native`): every node holds a stable pod subnet
/// (`pod-subnets`, recorded in the state directory), a bridge CNI configuration on it, and routes to every
/// other node's subnet through that node's cluster address (`pod-network`). The routes live in a file
/// applied by a oneshot unit at boot and by `apply` when the file changes, so membership changes are live
/// and restart nothing. Works on hosts that share an L2 segment (or whose routers carry the pod subnets).
public enum PodNetworkWorkflow {
    public static let subnetsPhase = "pod-subnets"
    public static let phaseName = "pod-network"
    public static let conflistPath = "/etc/cni/net.d/10-capstan.conflist"

    /// The pod subnets after this inventory's nodes are allocated from the recorded ones (nothing written).
    public static func allocation(_ inventory: Inventory, state: StateDirectory) throws -> (recorded: PodSubnets?, allocated: PodSubnets) {
        let path = state.path(PodSubnets.statePath)
        let recorded = try state.read(PodSubnets.statePath).map { try PodSubnets.decode($0, path: path) }
        let allocated = try PodSubnetAllocator.allocate(hosts: WorkerWorkflow.nodes(inventory).map(\.name), podCIDR: inventory.network.podCIDR,
                                                        nodeSubnetSize: inventory.network.nodeSubnetSize, recorded: recorded)
        return (recorded, allocated)
    }

    /// `routesOnly`: nodes already in the cluster whose pod network changes by routes only (`node add`): one
    /// command each (`PodRoutesRefresh`), no survey; a full converge when their files are not what apply writes.
    public static func phases(inventory: Inventory, state: StateDirectory, renderer: TemplateRenderer = TemplateRenderer(),
                              routesOnly: Set<String> = []) -> [Phase] {
        let nodes = WorkerWorkflow.nodes(inventory)
        let names = nodes.map(\.name)
        guard inventory.network.plugin == .native else {
            return [Phase(phaseName, hosts: names) { ctx, host in
                try await removeNative(ctx, host: host)
            }.belonging(to: .network)]
        }
        let box = Allocation()
        let subnets = Phase(subnetsPhase, concerning: names, next: "fix spec.network or the state directory named above; no host was changed") { ctx in
            let (recorded, allocated) = try allocation(inventory, state: state)
            for name in names {
                guard let subnet = allocated.nodes[name] else { continue }
                if recorded?.nodes[name] != subnet { await ctx.announce(host: name, "pod subnet \(subnet) (new)") }
            }
            for retired in allocated.retired where !(recorded?.retired.contains(retired) ?? false) {
                await ctx.announce(host: retired.host, "pod subnet \(retired.subnet) retired (the node left the inventory)")
            }
            if recorded != allocated {
                try await ctx.changeState("record the pod subnets in \(state.path(PodSubnets.statePath))") {
                    try state.ensureDirectory("network")
                    try state.write(try allocated.encoded(), to: PodSubnets.statePath, mode: 0o600)
                }
            }
            await box.set(allocated)
        }
        let network = Phase(phaseName, hosts: names, next: "fix the problems listed for each host and run the command again") { ctx, host in
            let files = try await box.files(host) { try render(inventory: inventory, host: host, subnets: $0, renderer: renderer) }
            if routesOnly.contains(host) {
                do {
                    _ = try await PodRoutesRefresh.run(ctx, host: host, files: files)
                    return
                } catch let stale as PodRoutesRefresh.Stale {
                    await ctx.emit(.message, host: host, "\(stale.path) is not what apply writes: converging the whole pod network")
                    try await ctx.survey(host, files: files.all.map(\.path), units: [files.context.unit])
                }
            }
            try await converge(ctx, host: host, inventory: inventory, files: files)
        }
        .surveying { ctx, host in
            guard !routesOnly.contains(host) else { return }
            // The paths do not depend on the subnets: declared before `pod-subnets` has run.
            try await ctx.survey(host, files: managedPaths, units: [defaults.unit])
            _ = try await NodeNetworkFacts.read(ctx, host)
        }
        return [subnets, network].map { $0.belonging(to: .network) }
    }

    /// The context's fixed settings (paths, unit, route protocol); `render` keeps them.
    static let defaults = PodNetworkContext(clusterName: "", nodeName: "", subnet: "", gateway: "", podCIDR: "", routes: [])
    /// The files Capstan writes on every node, in `NodeFiles.all`'s order.
    static let managedPaths = [conflistPath, defaults.configFile, defaults.scriptPath, "/etc/systemd/system/\(defaults.unit)"]

    /// The files of one node's pod network.
    public struct NodeFiles: Sendable {
        public var context: PodNetworkContext
        public var conflist: ManagedFile
        public var config: ManagedFile
        public var script: ManagedFile
        public var unitFile: ManagedFile

        var all: [ManagedFile] { [conflist, config, script, unitFile] }
        public var subnet: CIDR? { CIDR(parsing: context.subnet) }
    }

    public static func render(inventory: Inventory, host: String, subnets: PodSubnets, renderer: TemplateRenderer) throws -> NodeFiles {
        guard let subnet = subnets.subnet(of: host) else {
            throw WorkflowError.stateFile("\(host) has no pod subnet in the record; run the \(subnetsPhase) phase (do not skip it)")
        }
        let others = WorkerWorkflow.nodes(inventory).filter { $0.name != host }
        var routes: [PodNetworkContext.Route] = []
        for other in others {
            guard let theirs = subnets.nodes[other.name] else { continue }
            guard IPv4Address(parsing: other.clusterAddress) != nil else {
                throw WorkflowError.inventory(
                    "the pod network routes to \(other.name)'s pod subnet through its cluster address, and \(other.clusterAddress) is not an IPv4 address: give \(other.name) an IPv4 internalAddress, or set spec.network.plugin: none")
            }
            routes.append(.init(subnet: theirs, via: other.clusterAddress, node: other.name))
        }
        let context = PodNetworkContext(clusterName: inventory.name, nodeName: host, subnet: subnet.description,
                                        gateway: subnet.address(at: 1).description, podCIDR: inventory.network.podCIDR.description, routes: routes)
        return NodeFiles(
            context: context,
            // 0600: CIS 1.1.9 (containerd reads it as root).
            conflist: ManagedFile(path: conflistPath, text: try renderer.render("network/10-capstan.conflist", context: context),
                                  attributes: FileAttributes(mode: 0o600)),
            config: ManagedFile(path: context.configFile, text: try renderer.render("network/pod-network.conf", context: context)),
            script: ManagedFile(path: context.scriptPath, text: try renderer.render("network/pod-network.sh", context: context), attributes: FileAttributes(mode: 0o755)),
            unitFile: ManagedFile(path: "/etc/systemd/system/\(context.unit)", text: try renderer.render("network/capstan-pod-network.service", context: context)))
    }

    /// `plugin: none`: Capstan installs no CNI configuration, and takes away its own from a node that had the
    /// native network (its conflist would otherwise shadow the operator's CNI), with its routes and NAT rule.
    static func removeNative(_ ctx: WorkflowContext, host: String) async throws {
        let paths = managedPaths
        try await ctx.survey(host, files: paths)
        var present: [String] = []
        for path in paths where await ctx.surveyedChecksum(host, path) != nil { present.append(path) }
        guard !present.isEmpty else {
            await ctx.emit(.message, host: host, "spec.network.plugin is none: Capstan installs no CNI configuration; the node stays NotReady until you install a CNI plugin")
            return
        }
        let script = "systemctl disable --now \(defaults.unit) 2>/dev/null; rm -f \(paths.joined(separator: " ")); systemctl daemon-reload; "
            + "ip route flush proto \(defaults.routeProtocol); "
            + "iptables -w -t nat -S POSTROUTING | grep -F '\(PodNetwork.masqueradeComment)' | sed 's/^-A /-D /' | while read -r rule; do eval iptables -w -t nat \"$rule\"; done"
        try await ctx.change(host, "remove Capstan's pod network (spec.network.plugin is none): \(present.joined(separator: ", ")), its routes and masquerade rule") { c in
            try await c.check(ShellCommand("sh", "-c", script))
        }
    }

    /// The routes the node should hold: subnet → (other node's address, its name).
    static func wantedRoutes(_ context: PodNetworkContext) -> [CIDR: (via: String, node: String)] {
        var wanted: [CIDR: (via: String, node: String)] = [:]
        for route in context.routes {
            if let subnet = CIDR(parsing: route.subnet) { wanted[subnet] = (route.via, route.node) }
        }
        return wanted
    }

    /// Pre-flight, then the files, the live routes and masquerade rule, then the boot unit.
    static func converge(_ ctx: WorkflowContext, host: String, inventory: Inventory, files: NodeFiles) async throws {
        let facts = try await NodeNetworkFacts.read(ctx, host)
        let context = files.context
        try await preflight(ctx, host: host, inventory: inventory, facts: facts, ownSubnet: files.subnet, bridge: context.bridge, proto: context.routeProtocol)

        try await ctx.ensureFile(host, files.conflist)
        let scriptChanged = try await ctx.ensureFile(host, files.script)
        let configChanged = try await ctx.ensureFile(host, files.config)
        let changes = PodNetwork.routeChanges(wanted: wantedRoutes(context), owned: facts.ownedRoutes(proto: context.routeProtocol))
        var reasons = changes.map { "route \($0)" }
        if let subnet = files.subnet, let pod = CIDR(parsing: context.podCIDR), !facts.hasMasquerade(subnet: subnet, podCIDR: pod) {
            reasons.append("masquerade \(subnet) leaving \(pod)")
        }
        if !reasons.isEmpty || scriptChanged || configChanged {
            let what = reasons.isEmpty ? "re-apply \(context.configFile) (it changed)" : reasons.joined(separator: "; ")
            // Routes and the NAT rule only: the surveyed files and units stay known (no second survey).
            try await ctx.change(host, "pod network: \(what)", affecting: []) { c in
                try await c.check(ShellCommand("sh", context.scriptPath))
            }
        }
        // The unit only replays the file at boot: never restarted, so a membership change restarts nothing.
        _ = try await ctx.ensureUnits(host, [ManagedUnit(unit: context.unit, unitFile: files.unitFile, restartOnChange: false)])
    }

    static func preflight(_ ctx: WorkflowContext, host: String, inventory: Inventory, facts: NodeNetworkFacts, ownSubnet: CIDR?, bridge: String, proto: Int) async throws {
        var problems = facts.conflicts(podCIDR: inventory.network.podCIDR, serviceCIDR: inventory.network.serviceCIDR, ownSubnet: ownSubnet, bridge: bridge, proto: proto)
        if facts.ipForward != "1" {
            let text = "net.ipv4.ip_forward is \(facts.ipForward ?? "unreadable"), so the node forwards no pod traffic (node-kernel sets it from /etc/sysctl.d/k8s.conf: check what resets it)"
            if let problem = await ctx.blocker(host: host, text) { problems.append(problem) }
        }
        switch facts.bridgeNetfilter {
        case "1": break
        case nil:
            await ctx.emit(.warning, host: host, "warning: net.bridge.bridge-nf-call-iptables does not exist (br_netfilter is not loaded): traffic between pods on one node bypasses kube-proxy's rules")
        case let value?:
            let text = "net.bridge.bridge-nf-call-iptables is \(value): traffic between pods on one node bypasses kube-proxy's rules (node-kernel sets it: check what resets it)"
            if let problem = await ctx.blocker(host: host, text) { problems.append(problem) }
        }
        guard problems.isEmpty else {
            throw WorkflowError.hostFailed(host: host, what: "check the pod network", reason: problems.joined(separator: "; "),
                                           next: "remove the conflicting routes or addresses on \(host), or choose spec.network.podCIDR / serviceCIDR that no network on the hosts uses")
        }
    }
}

/// The pod subnets `pod-subnets` allocated, shared with `pod-network` in the same run.
actor Allocation {
    private var value: PodSubnets?
    /// Each node's files, rendered once per run (the survey and the body use them).
    private var rendered: [String: PodNetworkWorkflow.NodeFiles] = [:]

    func set(_ subnets: PodSubnets) {
        value = subnets
        rendered = [:]
    }

    func files(_ host: String, _ render: (PodSubnets) throws -> PodNetworkWorkflow.NodeFiles) throws -> PodNetworkWorkflow.NodeFiles {
        if let known = rendered[host] { return known }
        let files = try render(try get())
        rendered[host] = files
        return files
    }

    func get() throws -> PodSubnets {
        guard let value else {
            throw WorkflowError.runDataMissing(phase: PodNetworkWorkflow.subnetsPhase)
        }
        return value
    }
}
