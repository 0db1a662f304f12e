import Inventory

/// A catalog row expanded for one host (or the cluster): the exact certificate the inventory requires.
public struct RequiredCertificate: Sendable, Hashable {
    public var spec: CertificateSpec
    /// The host it belongs to; nil for cluster-wide ones.
    public var host: String?
    public var commonName: String
    public var organizations: [String]
    /// Sorted and without duplicates.
    public var sans: [SubjectAltName]
    /// State path without extension, relative to the state directory (`pki/hosts/cp1/etcd/server`).
    public var statePath: String
    /// Where the rendered kubeconfig goes in the state directory, for kubeconfig rows.
    public var kubeconfigPath: String?
    /// `https://host:port` for kubeconfig rows.
    public var server: String?

    /// `apiserver@cp1`, `admin.conf`: unique across the cluster, used in plans and reports.
    public var id: String { host.map { "\(spec.name)@\($0)" } ?? spec.name }
    public var name: String { spec.name }
    public var signer: AuthorityName? { spec.signer }
    public var certPath: String { statePath + ".crt" }
    public var keyPath: String { statePath + ".key" }
    public var csrPath: String { statePath + ".csr" }
}

/// `host:port` of the API as clients reach it.
public struct APIEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `host`, `[v6]:port` or a bare IPv6 literal; default port 6443.
    public init?(parsing text: String) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { port = 6443 } else {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()), (1...65535).contains(p) else { return nil }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
        } else {
            host = text
            port = 6443
        }
        guard !host.isEmpty else { return nil }
    }

    public var url: String { host.contains(":") ? "https://[\(host)]:\(port)" : "https://\(host):\(port)" }
}

extension Inventory {
    /// The API endpoint clients use: `controlPlane.endpoint`, else the first control-plane host on 6443.
    public func apiEndpoint() throws(PKIError) -> APIEndpoint {
        if let text = controlPlane.endpoint {
            guard let ep = APIEndpoint(parsing: text) else {
                throw PKIError("invalid control-plane endpoint", subject: text, reason: "expected host:port",
                               hint: "set controlPlane.endpoint to e.g. 10.0.0.10:6443 or api.example.com:6443")
            }
            return ep
        }
        guard let first = controlPlaneHosts.first else {
            throw PKIError("no control-plane endpoint", reason: "the inventory has no control-plane host and no controlPlane.endpoint",
                           hint: "give at least one host the control-plane role")
        }
        return APIEndpoint(host: first.clusterAddress, port: 6443)
    }

    /// Where kubelets and kube-proxies reach the API: 127.0.0.1 on the balancer's port when nodes run the
    /// node-local balancer (on a control-plane host with the default port, that is its own API server),
    /// else the clients' endpoint.
    public func nodeAPIEndpoint(_ endpoint: APIEndpoint) -> APIEndpoint {
        usesNodeLocalBalancer ? APIEndpoint(host: "127.0.0.1", port: controlPlane.localBalancerPort) : endpoint
    }

    /// The etcd members: hosts with the `etcd` role; for a stacked topology without any, the control-plane hosts.
    public var etcdMembers: [HostSpec] {
        let members = etcdHosts
        if members.isEmpty, etcd.topology == .stacked { return controlPlaneHosts }
        return members
    }

    /// Hosts that run a kubelet.
    public var kubeletHosts: [HostSpec] { hosts.filter { $0.has(.controlPlane) || $0.has(.worker) } }
}

extension CertificateCatalog {
    /// Every certificate (and kubeconfig client certificate) the inventory requires, in catalog order,
    /// hosts in inventory order. CAs and the service-account key are not included (see `authorities`).
    public static func required(for inventory: Inventory, catalog: [CertificateSpec] = kubeadm) throws(PKIError) -> [RequiredCertificate] {
        guard inventory.isSelfManaged else {
            throw PKIError("no PKI for a managed cluster", subject: inventory.name,
                           reason: "the provider owns the control plane and its certificates",
                           hint: "remove the certs commands from this workflow, or set controlPlane.mode: self-managed")
        }
        for host in inventory.hosts {
            guard !host.name.isEmpty, !host.name.contains("/"), host.name != ".", host.name != ".." else {
                throw PKIError("invalid host name for the PKI layout", subject: host.name,
                               reason: "host names become directory names in the state directory",
                               hint: "use a name without '/' such as cp1")
            }
        }
        let endpoint = try inventory.apiEndpoint()
        var out: [RequiredCertificate] = []
        for spec in catalog {
            if case .certificateAuthority = spec.kind { continue }
            if case .serviceAccountKey = spec.kind { continue }
            let hosts: [HostSpec?]
            switch spec.scope {
            case .cluster: hosts = [nil]
            case .eachControlPlane: hosts = inventory.controlPlaneHosts
            case .eachEtcdMember: hosts = inventory.etcdMembers
            case .eachNode: hosts = inventory.kubeletHosts
            }
            for host in hosts {
                let sans = Set(sanTexts(spec.sanRule, host: host, inventory: inventory, endpoint: endpoint).map(SubjectAltName.init)).sorted()
                let prefix = host.map { "pki/hosts/\($0.name)/" } ?? "pki/"
                var kubeconfigPath: String?
                var server: String?
                if case .kubeconfig(let fileName, let serverKind) = spec.kind {
                    kubeconfigPath = "kubeconfig/" + (host.map { "hosts/\($0.name)/" } ?? "") + fileName
                    switch serverKind {
                    case .controlPlaneEndpoint: server = endpoint.url
                    case .localAPIServer: server = APIEndpoint(host: host?.clusterAddress ?? endpoint.host, port: 6443).url
                    case .nodeEndpoint: server = inventory.nodeAPIEndpoint(endpoint).url
                    }
                }
                out.append(RequiredCertificate(
                    spec: spec, host: host?.name,
                    commonName: spec.commonName.replacingOccurrences(of: "{host}", with: host?.name ?? ""),
                    organizations: spec.organizations, sans: sans, statePath: prefix + spec.fileBase,
                    kubeconfigPath: kubeconfigPath, server: server
                ))
            }
        }
        return out
    }

    static func sanTexts(_ rule: CertificateSpec.SANRule, host: HostSpec?, inventory: Inventory, endpoint: APIEndpoint) -> [String] {
        switch rule {
        case .none:
            return []
        case .apiServer:
            let domain = inventory.network.clusterDomain
            var names = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.\(domain)"]
            for cp in inventory.controlPlaneHosts { names += [cp.address, cp.clusterAddress] }
            names.append(endpoint.host)
            names.append(inventory.network.serviceCIDR.address(at: 1).description)
            if let host { names.append(host.name) }
            // Nodes reach their own API server, or the node-local balancer, at 127.0.0.1.
            names += ["127.0.0.1", "localhost"]
            names += inventory.controlPlane.extraSANs
            return names
        case .etcdServer:
            guard let host else { return [] }
            return [host.name, host.clusterAddress, "localhost", "127.0.0.1"]
        case .etcdPeer:
            guard let host else { return [] }
            return [host.name, host.clusterAddress]
        case .kubeletServing:
            guard let host else { return [] }
            var names = [host.name, host.clusterAddress]
            if host.address != host.clusterAddress { names.append(host.address) }
            return names
        }
    }
}
