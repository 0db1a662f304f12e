/// Cross-field rules: versions, roles per mode and topology, duplicates, networks. They run on the
/// parsed values; anything already reported as malformed is skipped so each mistake is reported once.
extension InventoryParser {
    func validate(_ inv: Inventory, kubernetesVersionKnown: Bool) {
        if kubernetesVersionKnown { checkVersions(inv) }
        checkMode(inv)
        if inv.isSelfManaged { checkTopology(inv) }
        checkDuplicates(inv)
        checkNetwork(inv)
    }

    private func roleLine(_ i: Int) -> String { "\(hostPaths[i]).roles" }

    func checkVersions(_ inv: Inventory) {
        let k = inv.kubernetesVersion
        if !SupportedVersions.isSupported(kubernetes: k) {
            r.error(at: "spec.kubernetesVersion", "spec.kubernetesVersion: Kubernetes \(k.tag) is outside the supported window (\(SupportedVersions.kubernetesWindow))")
        } else if k.preRelease != nil {
            r.warning(at: "spec.kubernetesVersion", "spec.kubernetesVersion: \(k.tag) is a pre-release; not for production clusters")
        }
        if let version = inv.controlPlane.podSecurity?.version, let minor = Int(version.dropFirst("v1.".count)), version.hasPrefix("v1."), minor > k.minor {
            r.error(at: "spec.controlPlane.podSecurity.version", "spec.controlPlane.podSecurity.version: \(version) is newer than the API servers (\(k.major).\(k.minor)), which do not know its standards; write latest or v1.\(k.minor) or older")
        }
        guard inv.isSelfManaged, explicitSections.contains("etcd"), r.marks["spec.etcd.version"] != nil,
              !r.invalidPaths.contains("spec.etcd.version"), let e = inv.etcd.version else { return }
        switch SupportedVersions.support(etcd: e) {
        case .supported:
            break
        case .etcdOnly:
            let paired = SupportedVersions.etcd(for: k).map { " (Kubernetes \(k.major).\(k.minor) pairs with \($0))" } ?? ""
            r.warning(at: "spec.etcd.version", "spec.etcd.version: etcd \(e) is older than 3.5\(paired); fine for etcd-only work (backups, restores, the upgrade to 3.5), but kube-apiserver needs etcd 3.5")
        case .unsupported:
            r.error(at: "spec.etcd.version", "spec.etcd.version: etcd \(e) is not supported (3.5.x, or 3.4.23 and later 3.4.x for etcd-only work)")
        }
    }

    func checkMode(_ inv: Inventory) {
        let cp = inv.controlPlane
        switch cp.mode {
        case .managed:
            let provider = cp.managed?.provider.displayName ?? "the provider"
            if cp.managed == nil, !r.invalidPaths.contains("spec.controlPlane.managed"), r.marks["spec.controlPlane.managed"] == nil {
                r.error(at: "spec.controlPlane.mode", "spec.controlPlane: mode managed needs a managed section (provider, apiEndpoint, caFile, joinCredentials)")
            }
            if cp.endpoint != nil {
                r.error(at: "spec.controlPlane.endpoint", "spec.controlPlane.endpoint: not used in a managed cluster; the API endpoint is managed.apiEndpoint")
            }
            for key in ["loadBalancer", "localBalancerPort", "vip"] where r.marks["spec.controlPlane.\(key)"] != nil {
                r.error(at: "spec.controlPlane.\(key)", "spec.controlPlane.\(key): not used in a managed cluster; \(provider) balances its own API servers")
            }
            if explicitSections.contains("etcd") {
                r.error(at: "spec.etcd", "spec.etcd: \(provider) runs etcd in a managed cluster, so Capstan cannot manage or back it up; remove this section")
            }
            if r.marks["spec.controlPlane.oidc"] != nil {
                r.error(at: "spec.controlPlane.oidc", "spec.controlPlane.oidc: not used in a managed cluster; \(provider) configures its API servers' authentication")
            }
            if r.marks["spec.controlPlane.podSecurity"] != nil {
                r.error(at: "spec.controlPlane.podSecurity", "spec.controlPlane.podSecurity: not used in a managed cluster; \(provider) configures its API servers' admission (label namespaces with pod-security.kubernetes.io/* instead)")
            }
            if inv.componentConfig[.kubeProxy] != nil {
                r.warning(at: "spec.componentConfig.kube-proxy", "spec.componentConfig.kube-proxy: ignored in a managed cluster; \(provider) runs kube-proxy")
            }
            if explicitSections.contains("pki") {
                r.warning(at: "spec.pki", "spec.pki: ignored in a managed cluster; \(provider) owns the cluster CA (workers join with its caFile)")
            }
            for (i, h) in inv.hosts.enumerated() {
                let refused = [Role.controlPlane, .etcd].filter { h.has($0) }.map(\.rawValue)
                guard !refused.isEmpty else { continue }
                let roles = refused.count == 1 ? "role \(refused[0])" : "roles \(refused.joined(separator: " and "))"
                r.error(at: roleLine(i), "\(roleLine(i)): host \(h.name) has \(roles), but in a managed cluster \(provider) runs the control plane and etcd; only worker hosts are allowed")
            }
            if inv.workerHosts.isEmpty, !inv.hosts.isEmpty {
                r.error(at: "spec.hosts", "spec.hosts: a managed cluster needs at least one worker host (Capstan manages only the workers)")
            }
        case .selfManaged:
            if r.marks["spec.controlPlane.managed"] != nil {
                r.error(at: "spec.controlPlane.managed", "spec.controlPlane.managed: only for mode: managed (this cluster is self-managed)")
            }
            checkLoadBalancer(inv)
        }
    }

    /// `loadBalancer` against the endpoint and the number of control-plane hosts.
    func checkLoadBalancer(_ inv: Inventory) {
        let cp = inv.controlPlane
        let cps = inv.controlPlaneHosts.count
        let at = r.marks["spec.controlPlane.loadBalancer"] != nil ? "spec.controlPlane.loadBalancer"
            : r.marks["spec.controlPlane"] != nil ? "spec.controlPlane" : "spec.hosts"
        let mode = inv.apiLoadBalancer
        if r.invalidPaths.contains("spec.controlPlane.loadBalancer") || r.invalidPaths.contains("spec.controlPlane.endpoint") { return }
        switch mode {
        case .none:
            if cps > 1 {
                r.error(at: at, "spec.controlPlane.loadBalancer: none reaches the API only through \(inv.controlPlaneHosts[0].name), but there are \(cps) control-plane hosts; use node-local (haproxy on every node), vip (node-local plus a virtual IP at endpoint) or external (your balancer at endpoint)")
            }
        case .external:
            if cp.endpoint == nil {
                r.error(at: at, "spec.controlPlane.loadBalancer: external needs endpoint (HOST:PORT of your load balancer or VIP); without one use node-local")
            }
        case .nodeLocal:
            if cps > 1, cp.endpoint == nil, !incompleteHosts {
                r.warning(at: at, "spec.controlPlane: no endpoint; nodes reach the API through their node-local balancer, but admin.conf and outside clients reach only \(inv.controlPlaneHosts[0].name) — set loadBalancer: vip with endpoint at a free address, or endpoint to your load balancer")
            }
        case .vip:
            guard let endpoint = cp.endpoint, let parts = Syntax.splitEndpoint(endpoint) else {
                r.error(at: at, "spec.controlPlane.loadBalancer: vip needs endpoint: a free IPv4 address on the control-plane hosts' network that keepalived moves between them, e.g. 10.0.0.10:6443")
                return
            }
            if IPv4Address(parsing: parts.host) == nil {
                r.error(at: "spec.controlPlane.endpoint", "spec.controlPlane.endpoint: \(parts.host) is not an IPv4 address; loadBalancer vip holds the endpoint's address on a control-plane host")
            } else if let taken = inv.hosts.first(where: { $0.address == parts.host || $0.internalAddress == parts.host }) {
                r.error(at: "spec.controlPlane.endpoint", "spec.controlPlane.endpoint: \(parts.host) is host \(taken.name)'s address; the virtual IP must be a free address")
            }
            if let port = parts.port, port != 6443 {
                r.error(at: "spec.controlPlane.endpoint", "spec.controlPlane.endpoint: port \(port) — the virtual IP reaches the API servers on their port 6443; write \(parts.host):6443")
            }
        }
        if cp.vip != nil, mode != .vip {
            r.error(at: "spec.controlPlane.vip", "spec.controlPlane.vip: only for loadBalancer: vip (this cluster's is \(mode.rawValue))")
        }
        if r.marks["spec.controlPlane.localBalancerPort"] != nil, !inv.usesNodeLocalBalancer {
            r.error(at: "spec.controlPlane.localBalancerPort", "spec.controlPlane.localBalancerPort: only for loadBalancer node-local or vip (this cluster's is \(mode.rawValue))")
        }
    }

    func checkTopology(_ inv: Inventory) {
        guard !incompleteHosts, !inv.hosts.isEmpty, !r.invalidPaths.contains("spec.hosts"),
              !hostPaths.contains(where: { r.invalidPaths.contains("\($0).roles") }) else { return }
        if inv.controlPlaneHosts.isEmpty {
            r.error(at: "spec.hosts", "spec.hosts: no host has the control-plane role; a self-managed cluster needs at least one")
        }
        let topology = inv.etcd.topology
        if inv.etcdHosts.isEmpty {
            switch topology {
            case .stacked:
                r.error(at: "spec.hosts", "spec.hosts: no host has the etcd role; in stacked topology give the control-plane hosts the etcd role too")
            case .external:
                r.error(at: "spec.hosts", "spec.hosts: external etcd topology needs hosts with the etcd role")
            }
        }
        for (i, h) in inv.hosts.enumerated() where h.has(.etcd) {
            if topology == .stacked, !h.has(.controlPlane) {
                r.error(at: roleLine(i), "\(roleLine(i)): host \(h.name) has role etcd without control-plane; in stacked topology etcd runs on the control-plane hosts (add control-plane, or set etcd.topology: external)")
            }
            if topology == .external, h.has(.controlPlane) {
                r.warning(at: roleLine(i), "\(roleLine(i)): host \(h.name) runs both etcd and control-plane; external topology expects dedicated etcd hosts")
            }
        }
        let members = inv.etcdHosts.count
        if members > 1, members % 2 == 0 {
            r.warning(at: "spec.hosts", "spec.hosts: \(members) etcd members tolerate no more failures than \(members - 1); use an odd number (3 or 5)")
        } else if members == 1, inv.hosts.count > 1 {
            r.warning(at: "spec.hosts", "spec.hosts: a single etcd member (\(inv.etcdHosts[0].name)) is a single point of failure in this \(inv.hosts.count)-host cluster; use 3")
        }
    }

    func checkDuplicates(_ inv: Inventory) {
        var names: [String: Int] = [:]
        var addresses: [String: (host: Int, path: String)] = [:]
        for (i, h) in inv.hosts.enumerated() {
            let path = hostPaths[i]
            if let first = names[h.name] {
                r.error(at: "\(path).name", "\(path).name: duplicate host name '\(h.name)' (also \(hostPaths[first]))")
            } else {
                names[h.name] = i
            }
            var own: Set<String> = []
            for (key, value) in [("address", h.address), ("internalAddress", h.internalAddress)] {
                guard let value, !own.contains(value.lowercased()) else { continue }
                own.insert(value.lowercased())
                if let first = addresses[value.lowercased()] {
                    r.error(at: "\(path).\(key)", "\(path).\(key): duplicate address \(value) (also \(first.path), host \(inv.hosts[first.host].name))")
                } else {
                    addresses[value.lowercased()] = (i, "\(path).\(key)")
                }
            }
        }
    }

    func checkNetwork(_ inv: Inventory) {
        guard inv.isSelfManaged || explicitSections.contains("network") else { return }
        let svc = inv.network.serviceCIDR, pod = inv.network.podCIDR
        let svcOK = !r.invalidPaths.contains("spec.network.serviceCIDR"), podOK = !r.invalidPaths.contains("spec.network.podCIDR")
        if svcOK, svc.prefix < 12 {
            r.error(at: "spec.network.serviceCIDR", "spec.network.serviceCIDR: \(svc) is larger than kube-apiserver accepts (at most /12, 1M service IPs)")
        }
        if svcOK, svc.prefix > 28 {
            r.error(at: "spec.network.serviceCIDR", "spec.network.serviceCIDR: \(svc) is too small (at most /28: the API and DNS need their service IPs)")
        }
        let size = inv.network.nodeSubnetSize
        if podOK, !r.invalidPaths.contains("spec.network.nodeSubnetSize") {
            let nodes = inv.hosts.filter { $0.has(.controlPlane) || $0.has(.worker) }.count
            if pod.prefix > size {
                r.error(at: "spec.network.podCIDR", "spec.network.podCIDR: \(pod) is smaller than one node's /\(size) pod range (spec.network.nodeSubnetSize)")
            } else if size - pod.prefix < 31, nodes > 1 << (size - pod.prefix) {
                let at = r.marks["spec.network.nodeSubnetSize"] != nil ? "spec.network.nodeSubnetSize" : "spec.network.podCIDR"
                r.error(at: at, "\(at): \(pod) holds \(1 << (size - pod.prefix)) node subnet(s) of /\(size) but the inventory has \(nodes) nodes; use a larger podCIDR or smaller node subnets (a higher nodeSubnetSize)")
            }
        }
        if svcOK, podOK, svc.overlaps(pod) {
            r.error(at: "spec.network.podCIDR", "spec.network.podCIDR: \(pod) overlaps serviceCIDR \(svc)")
        }
        for (i, h) in inv.hosts.enumerated() {
            for (key, value) in [("address", h.address), ("internalAddress", h.internalAddress)] {
                guard let value, let ip = IPv4Address(parsing: value) else { continue }
                if svcOK, svc.contains(ip) {
                    r.error(at: "\(hostPaths[i]).\(key)", "\(hostPaths[i]).\(key): \(value) lies inside serviceCIDR \(svc); services would shadow the host")
                } else if podOK, pod.contains(ip) {
                    r.error(at: "\(hostPaths[i]).\(key)", "\(hostPaths[i]).\(key): \(value) lies inside podCIDR \(pod); pod routes would shadow the host")
                }
            }
        }
        if let endpoint = inv.controlPlane.endpoint, let host = Syntax.splitEndpoint(endpoint)?.host, let ip = IPv4Address(parsing: host) {
            if svcOK, svc.contains(ip) {
                r.error(at: "spec.controlPlane.endpoint", "spec.controlPlane.endpoint: \(host) lies inside serviceCIDR \(svc)")
            } else if podOK, pod.contains(ip) {
                r.error(at: "spec.controlPlane.endpoint", "spec.controlPlane.endpoint: \(host) lies inside podCIDR \(pod)")
            }
        }
    }
}
