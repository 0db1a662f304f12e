import Foundation
import Yams

/// Turns the YAML tree into an `Inventory`, applying every default, then runs the cross-field
/// checks in `InventoryParser+Validation.swift`. Every problem goes to the reader as a diagnostic;
/// parsing goes on after a problem so that one run reports them all.
final class InventoryParser {
    let r: YAMLReader
    let sourcePath: String
    let checkFiles: Bool

    /// Which sections the file wrote explicitly (for "this section does nothing in managed mode").
    var explicitSections: Set<String> = []
    /// Local files named by the inventory: path in the model, resolved path, where it was written.
    var files: [(path: String, resolved: String)] = []
    /// `spec.hosts[i]` of each parsed host (hosts with errors in name or address are left out of the model).
    var hostPaths: [String] = []
    /// Some host could not be read: role counts would be wrong, so the topology checks stay quiet.
    var incompleteHosts = false
    /// known_hosts files the YAML names: (path of the setting, as written, the policy written beside it, or nil).
    var knownHostsFiles: [(path: String, written: String, policy: KnownHostsPolicy?)] = []

    init(reader: YAMLReader, sourcePath: String, checkFiles: Bool) {
        self.r = reader
        self.sourcePath = sourcePath
        self.checkFiles = checkFiles
    }

    func parse(_ root: Node) -> Inventory? {
        guard let top = section(root, path: "") else { return nil }
        if let api = r.string(top, "apiVersion"), api != Inventory.apiVersion {
            r.invalid(top, "apiVersion", "apiVersion: unsupported '\(api)' (this capstan reads \(Inventory.apiVersion))")
        }
        if let kind = r.string(top, "kind"), kind != Inventory.kind {
            var message = "kind: unsupported '\(kind)' (expected \(Inventory.kind))"
            if let guess = Spelling.suggestion(for: kind, among: [Inventory.kind]) { message = "kind: unsupported '\(kind)'; did you mean '\(guess)'?" }
            r.invalid(top, "kind", message)
        }
        var name: String?
        if let metaNode = top.value("metadata"), let meta = section(metaNode, path: "metadata") {
            if let n = r.nonEmptyString(meta, "name") {
                if Syntax.isDNSLabel(n) {
                    name = n
                } else {
                    r.invalid(meta, "name", "metadata.name: '\(n)' is not a valid cluster name (1-63 lowercase letters, digits and '-', starting and ending with a letter or digit)")
                }
            }
        }
        guard let specNode = top.value("spec"), let spec = section(specNode, path: "spec") else { return nil }
        for key in InventorySchema.keys(under: "spec") where spec.has(key) { explicitSections.insert(key) }

        let kubernetesVersion = r.version(spec, "kubernetesVersion")
        let controlPlane = spec.value("controlPlane").flatMap { parseControlPlane($0) } ?? ControlPlaneSpec()
        let network = spec.value("network").flatMap { parseNetwork($0) } ?? NetworkSpec()
        var etcd = spec.value("etcd").flatMap { parseEtcd($0, pairedVersion: kubernetesVersion.flatMap(SupportedVersions.etcd(for:))) } ?? EtcdSpec()
        let pki = spec.value("pki").flatMap { parsePKI($0) } ?? PKISpec()
        let ssh = SSHSpec.clusterDefaults.overlaid(with: spec.value("ssh").flatMap { parseSSH($0, path: "spec.ssh") })
        let artifacts = spec.value("artifacts").flatMap { parseArtifacts($0) } ?? ArtifactSpec()
        let upgrade = spec.value("upgrade").flatMap { parseUpgrade($0) } ?? UpgradeSpec()
        let components = spec.value("components").flatMap { parseComponents($0) } ?? ComponentsSpec()
        let addons = spec.value("addons").flatMap { parseAddons($0) } ?? AddonsSpec()
        let containerRuntime = spec.value("containerRuntime").flatMap { parseContainerRuntime($0) } ?? ContainerRuntimeSpec()
        let extraArgs = spec.value("extraArgs").flatMap { parseExtraArgs($0, kubernetesVersion: kubernetesVersion) } ?? [:]
        let componentConfig = spec.value("componentConfig").flatMap { parseComponentConfig($0, kubernetesVersion: kubernetesVersion) } ?? [:]
        let concurrency = spec.value("concurrency").flatMap { parseConcurrency($0) } ?? ConcurrencySpec()
        var hosts: [HostSpec] = []
        if let hostsNode = spec.value("hosts"), let items = r.sequence(hostsNode, path: "spec.hosts") {
            r.record("spec.hosts", hostsNode)
            if items.isEmpty { r.error(hostsNode.position, "spec.hosts: the list is empty; a cluster needs at least one host") }
            for (i, item) in items.enumerated() {
                if let h = parseHost(item, path: "spec.hosts[\(i)]") {
                    hosts.append(h)
                    hostPaths.append("spec.hosts[\(i)]")
                }
            }
        }
        if etcd.version == nil, let k = kubernetesVersion, let paired = SupportedVersions.etcd(for: k) {
            etcd.version = paired
        }

        var inventory = Inventory(
            name: name ?? "",
            kubernetesVersion: kubernetesVersion ?? SemanticVersion(0, 0, 0),
            controlPlane: controlPlane, network: network, etcd: etcd, pki: pki, ssh: ssh,
            artifacts: artifacts, upgrade: upgrade, components: components, addons: addons, hosts: hosts, sourcePath: sourcePath
        )
        inventory.containerRuntime = containerRuntime
        inventory.extraArgs = extraArgs
        inventory.componentConfig = componentConfig
        inventory.concurrency = concurrency
        validate(inventory, kubernetesVersionKnown: kubernetesVersion != nil)
        resolvePaths(&inventory)
        if checkFiles {
            checkReadable()
            checkKnownHosts(clusterPolicy: inventory.ssh.knownHostsPolicy)
        }
        return inventory
    }

    // MARK: sections

    /// A mapping at `path` read with the keys `InventorySchema` lists there: unknown keys and missing required
    /// ones are reported.
    func section(_ node: Node, path: String) -> MappingView? {
        guard let m = r.mapping(node, path: path, allowed: InventorySchema.keys(under: path)) else { return nil }
        r.requireKeys(m, InventorySchema.requiredKeys(under: path))
        return m
    }

    func parseControlPlane(_ node: Node) -> ControlPlaneSpec? {
        guard let m = section(node, path: "spec.controlPlane") else { return nil }
        var cp = ControlPlaneSpec()
        if let mode = r.enumValue(m, "mode", ControlPlaneMode.self, what: "control plane mode") { cp.mode = mode }
        if let endpoint = r.nonEmptyString(m, "endpoint") {
            if let (host, port) = Syntax.splitEndpoint(endpoint), Syntax.isAddress(host), port.map({ (1...65535).contains($0) }) ?? true {
                cp.endpoint = endpoint
            } else {
                r.invalid(m, "endpoint", "spec.controlPlane.endpoint: '\(endpoint)' is not HOST or HOST:PORT (an address or DNS name, port 1-65535), e.g. 10.0.0.10:6443")
            }
        }
        if let sans = r.stringList(m, "extraSANs") {
            for (i, (san, node)) in sans.enumerated() where !Syntax.isAddress(san) && !(san.hasPrefix("*.") && Syntax.isHostName(String(san.dropFirst(2)))) {
                r.error(node.position, "spec.controlPlane.extraSANs[\(i)]: '\(san)' is not an IP address or DNS name")
            }
            cp.extraSANs = sans.map(\.0)
        }
        if let managedNode = m.value("managed") { cp.managed = parseManaged(managedNode) }
        cp.loadBalancer = r.enumValue(m, "loadBalancer", LoadBalancerMode.self, what: "load balancer")
        if let port = r.port(m, "localBalancerPort") { cp.localBalancerPort = port }
        if let vipNode = m.value("vip") { cp.vip = parseVIP(vipNode) }
        if let podSecurityNode = m.value("podSecurity") { cp.podSecurity = parsePodSecurity(podSecurityNode) }
        if let oidcNode = m.value("oidc") { cp.oidc = parseOIDC(oidcNode) }
        return cp
    }

    func parseOIDC(_ node: Node) -> OIDCSpec? {
        let path = "spec.controlPlane.oidc"
        guard let m = section(node, path: path) else { return nil }
        var issuer = r.nonEmptyString(m, "issuerURL")
        if let url = issuer, !(url.hasPrefix("https://") && URL(string: url)?.host.map { !$0.isEmpty } == true) || url.contains("#") {
            r.invalid(m, "issuerURL", "\(path).issuerURL: '\(url)' is not an https:// URL (the API servers accept only https issuers; the URL must match the tokens' iss claim exactly)")
            issuer = nil
        }
        let client = r.nonEmptyString(m, "clientID")
        guard let issuer, let client else { return nil }
        var spec = OIDCSpec(issuerURL: issuer, clientID: client)
        if let claim = r.nonEmptyString(m, "usernameClaim") { spec.usernameClaim = claim }
        spec.usernamePrefix = r.string(m, "usernamePrefix")
        spec.groupsClaim = r.nonEmptyString(m, "groupsClaim")
        spec.groupsPrefix = r.string(m, "groupsPrefix")
        spec.caFile = file(m, "caFile")
        return spec
    }

    func parsePodSecurity(_ node: Node) -> PodSecuritySpec? {
        let path = "spec.controlPlane.podSecurity"
        guard let m = section(node, path: path) else { return nil }
        var spec = PodSecuritySpec()
        if let level = r.enumValue(m, "enforce", PodSecurityLevel.self, what: "Pod Security level") { spec.enforce = level }
        if let level = r.enumValue(m, "audit", PodSecurityLevel.self, what: "Pod Security level") { spec.audit = level }
        if let level = r.enumValue(m, "warn", PodSecurityLevel.self, what: "Pod Security level") { spec.warn = level }
        if let version = r.nonEmptyString(m, "version") {
            if version == "latest" || version.range(of: #"^v1\.(0|[1-9][0-9]*)$"#, options: .regularExpression) != nil {
                spec.version = version
            } else {
                r.invalid(m, "version", "\(path).version: '\(version)' is not a Pod Security Standards version (latest or v1.<minor>, e.g. v1.31)")
            }
        }
        func names(_ key: String, valid: (String) -> Bool, what: String) -> [String]? {
            guard let list = r.stringList(m, key) else { return nil }
            for (i, (name, item)) in list.enumerated() where !valid(name) {
                r.error(item.position, "\(path).\(key)[\(i)]: '\(name)' is not \(what)")
            }
            return list.map(\.0)
        }
        if let list = names("exemptNamespaces", valid: Syntax.isDNSLabel, what: "a namespace name (a DNS label)") { spec.exemptNamespaces = list }
        if let list = names("exemptUsernames", valid: { !$0.isEmpty }, what: "a user name") { spec.exemptUsernames = list }
        if let list = names("exemptRuntimeClasses", valid: Syntax.isDNSSubdomain, what: "a RuntimeClass name (a DNS subdomain)") { spec.exemptRuntimeClasses = list }
        return spec
    }

    func parseVIP(_ node: Node) -> VIPSpec? {
        let path = "spec.controlPlane.vip"
        guard let m = section(node, path: path) else { return nil }
        var vip = VIPSpec()
        if let name = r.nonEmptyString(m, "interface") {
            // Linux interface names: at most 15 bytes, no '/', ':' or whitespace.
            if name.utf8.count <= 15, !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }), name != ".", name != ".." {
                vip.interface = name
            } else {
                r.invalid(m, "interface", "\(path).interface: '\(name)' is not a network interface name (at most 15 characters, no '/', ':' or spaces), e.g. eth0")
            }
        }
        if let id = r.int(m, "virtualRouterId") {
            if (1...255).contains(id) {
                vip.virtualRouterID = id
            } else {
                r.invalid(m, "virtualRouterId", "\(path).virtualRouterId: \(id) is not a VRRP router id (1-255, unique on the network segment)")
            }
        }
        return vip
    }

    func parseManaged(_ node: Node) -> ManagedSpec? {
        let path = "spec.controlPlane.managed"
        guard let m = section(node, path: path) else { return nil }
        let provider = r.enumValue(m, "provider", ManagedProvider.self, what: "provider")
        var api = r.nonEmptyString(m, "apiEndpoint")
        if let a = api {
            let rest = a.hasPrefix("https://") ? String(a.dropFirst(8)) : nil
            let hostPort = rest.map { String($0.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]) }
            if hostPort.flatMap({ Syntax.splitEndpoint($0) }).map({ Syntax.isAddress($0.host) && ($0.port.map { (1...65535).contains($0) } ?? true) }) != true {
                r.invalid(m, "apiEndpoint", "\(path).apiEndpoint: '\(a)' is not an https:// URL of the provider's API server")
                api = nil
            }
        }
        let caFile = file(m, "caFile")
        var join: JoinCredentials?
        if let jn = m.value("joinCredentials"), let j = section(jn, path: "\(path).joinCredentials") {
            let token = file(j, "bootstrapTokenFile"), kubeconfig = file(j, "kubeconfigFile")
            switch (token, kubeconfig) {
            case let (t?, nil): join = .bootstrapTokenFile(t)
            case let (nil, k?): join = .kubeconfigFile(k)
            case (nil, nil):
                if !r.invalidPaths.contains("\(path).joinCredentials.bootstrapTokenFile") && !r.invalidPaths.contains("\(path).joinCredentials.kubeconfigFile") {
                    r.error(j.position ?? jn.position, "\(path).joinCredentials: set one of bootstrapTokenFile or kubeconfigFile")
                }
            case (_?, _?):
                r.error(j.keyNode("kubeconfigFile")?.position, "\(path).joinCredentials: set only one of bootstrapTokenFile or kubeconfigFile")
            }
        }
        guard let provider, let api, let caFile, let join else { return nil }
        return ManagedSpec(provider: provider, apiEndpoint: api, caFile: caFile, joinCredentials: join)
    }

    func parseNetwork(_ node: Node) -> NetworkSpec? {
        guard let m = section(node, path: "spec.network") else { return nil }
        var n = NetworkSpec()
        if let c = cidr(m, "serviceCIDR") { n.serviceCIDR = c }
        if let c = cidr(m, "podCIDR") { n.podCIDR = c }
        if let p = r.enumValue(m, "plugin", NetworkPlugin.self, what: "network plugin") { n.plugin = p }
        if let size = r.int(m, "nodeSubnetSize") {
            if (16...28).contains(size) { n.nodeSubnetSize = size } else {
                r.invalid(m, "nodeSubnetSize", "spec.network.nodeSubnetSize: /\(size) is outside /16 to /28 (a node needs at least 14 pod addresses; 24 gives 254)")
            }
        }
        if let d = r.nonEmptyString(m, "clusterDomain") {
            if Syntax.isDNSSubdomain(d) { n.clusterDomain = d } else {
                r.invalid(m, "clusterDomain", "spec.network.clusterDomain: '\(d)' is not a lowercase DNS domain (e.g. cluster.local)")
            }
        }
        return n
    }

    private func cidr(_ m: MappingView, _ key: String) -> CIDR? {
        guard let text = r.nonEmptyString(m, key) else { return nil }
        guard let c = CIDR(parsing: text) else {
            r.invalid(m, key, "\(m.child(key)): '\(text)' is not an IPv4 CIDR (e.g. 10.96.0.0/12)")
            return nil
        }
        guard c.isCanonical else {
            r.invalid(m, key, "\(m.child(key)): '\(text)' has host bits set; did you mean '\(c.network)/\(c.prefix)'?")
            return nil
        }
        return c
    }

    func parseEtcd(_ node: Node, pairedVersion: SemanticVersion?) -> EtcdSpec? {
        guard let m = section(node, path: "spec.etcd") else { return nil }
        var e = EtcdSpec()
        e.version = r.version(m, "version")
        if let t = r.enumValue(m, "topology", EtcdTopology.self, what: "etcd topology") { e.topology = t }
        if let d = r.nonEmptyString(m, "dataDir") {
            if d.hasPrefix("/") { e.dataDir = d } else {
                r.invalid(m, "dataDir", "spec.etcd.dataDir: '\(d)' must be an absolute path on the etcd hosts")
            }
        }
        if let b = m.value("backup") { e.backup = parseBackup(b) }
        if let a = m.value("extraArgs") { e.extraArgs = parseEtcdArgs(a, version: e.version ?? pairedVersion) }
        return e
    }

    func parseBackup(_ node: Node) -> BackupPolicy? {
        let path = "spec.etcd.backup"
        guard let m = section(node, path: path) else { return nil }
        var b = BackupPolicy()
        if let s = r.nonEmptyString(m, "schedule") {
            if OnCalendar.isPlausible(s) { b.schedule = s } else {
                r.invalid(m, "schedule", "\(path).schedule: '\(s)' is not a systemd OnCalendar expression (e.g. '*-*-* 02:00:00', 'daily' or 'Mon..Fri 01:30'; check with systemd-analyze calendar)")
            }
        }
        if let d = r.timeSpan(m, "randomizedDelay") { b.randomizedDelay = d }
        if let k = r.int(m, "keep") {
            if k >= 1 { b.keep = k } else { r.invalid(m, "keep", "\(path).keep: must be at least 1 (found \(k))") }
        }
        if let a = r.timeSpan(m, "maxAge") {
            if a.seconds > 0 { b.maxAge = a } else { r.invalid(m, "maxAge", "\(path).maxAge: must be longer than 0s") }
        }
        if let d = m.value("destination"), let dest = parseDestination(d) { b.destination = dest }
        b.encryptionKeyFile = file(m, "encryptionKeyFile")
        if let list = r.stringList(m, "recipients") {
            for (i, (text, node)) in list.enumerated() {
                if let (hrp, data) = Bech32.decode(text), hrp == "age", data.count == 32 {
                    b.recipients.append(text)
                } else {
                    r.error(node.position, "\(path).recipients[\(i)]: '\(text)' is not an age X25519 recipient (age1…); `capstan backup keygen --output FILE` writes an identity and prints its recipient")
                    r.markInvalid("\(path).recipients")
                }
            }
            if list.isEmpty { r.invalid(m, "recipients", "\(path).recipients: the list is empty; add at least one age1… recipient") }
        }
        b.identityFile = r.nonEmptyString(m, "identityFile")
        if let u = r.bool(m, "unencrypted") { b.unencrypted = u }
        if let p = r.bool(m, "includePKI") { b.includePKI = p }
        let encrypted = b.encryptionKeyFile != nil || !b.recipients.isEmpty
        if !encrypted, !b.unencrypted, !["encryptionKeyFile", "unencrypted", "recipients"].contains(where: { r.invalidPaths.contains("\(path).\($0)") }) {
            r.error(m.position, "\(path): backups need recipients (age public keys; `capstan backup keygen --output backup-identity.txt` prints one), or `unencrypted: true` to store snapshots in clear text")
        }
        if encrypted, b.unencrypted {
            r.error(at: "\(path).unencrypted", "\(path).unencrypted: true contradicts \(b.recipients.isEmpty ? "encryptionKeyFile" : "recipients"); remove one of them")
        } else if b.unencrypted, b.includePKI {
            r.warning(at: "\(path).unencrypted", "\(path): unencrypted backups with includePKI store the cluster's CA private keys in clear text; set includePKI: false or add an encryptionKeyFile")
        }
        return b
    }

    func parseDestination(_ node: Node) -> BackupDestination? {
        let path = "spec.etcd.backup.destination"
        guard let m = section(node, path: path) else { return nil }
        let kinds = InventorySchema.keys(under: path).filter { k in m.entries.contains { $0.key == k } }
        if kinds.count != 1 {
            r.error(m.position ?? node.position, "\(path): set exactly one of local, sftp or s3")
            return nil
        }
        if kinds == ["s3"] { return parseS3(m.value("s3"), keyNode: m.keyNode("s3")) }
        let hasLocal = kinds == ["local"]
        if hasLocal {
            guard let l = m.value("local") else { return .local(path: nil) }
            guard let lm = section(l, path: "\(path).local") else { return nil }
            return .local(path: file(lm, "path", isDirectory: true))
        }
        guard let s = m.value("sftp"), let sm = section(s, path: "\(path).sftp") else {
            r.error(m.keyNode("sftp")?.position, "\(path).sftp: needs host and path")
            return nil
        }
        var host = r.nonEmptyString(sm, "host")
        if let h = host, !Syntax.isAddress(h) {
            r.invalid(sm, "host", "\(path).sftp.host: '\(h)' is not an IP address or DNS name")
            host = nil
        }
        let port = r.port(sm, "port") ?? 22
        let user = r.nonEmptyString(sm, "user")
        var remote = r.nonEmptyString(sm, "path")
        if let p = remote, !p.hasPrefix("/") {
            r.invalid(sm, "path", "\(path).sftp.path: '\(p)' must be an absolute path on the backup host")
            remote = nil
        }
        var upload: SFTPUpload?
        if let key = file(sm, "uploadIdentityFile") {
            if let uploader = r.nonEmptyString(sm, "uploadUser") ?? user {
                upload = SFTPUpload(user: uploader, identityFile: key)
            } else {
                r.error(sm.keyNode("uploadIdentityFile")?.position, "\(path).sftp.uploadIdentityFile: needs uploadUser (the store account the etcd hosts upload as)")
            }
        }
        guard let host, let remote else { return nil }
        return .sftp(host: host, port: port, user: user, path: remote, upload: upload)
    }

    func parseS3(_ node: Node?, keyNode: Node?) -> BackupDestination? {
        let path = "spec.etcd.backup.destination.s3"
        guard let node, let m = section(node, path: path) else {
            r.error(keyNode?.position, "\(path): needs endpoint, bucket and credentialsFile")
            return nil
        }
        var endpoint = r.nonEmptyString(m, "endpoint")
        if let e = endpoint {
            let url = URL(string: e)
            if url?.host == nil || !["https", "http"].contains(url?.scheme ?? "") || !(url?.path ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/")).isEmpty {
                r.invalid(m, "endpoint", "\(path).endpoint: '\(e)' must be https://host[:port] (or http://) without a path; the bucket goes in bucket")
                endpoint = nil
            }
        }
        var bucket = r.nonEmptyString(m, "bucket")
        if let b = bucket, b.count < 3 || b.count > 63 || !b.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "." }) || !(b.first.map { $0.isLetter || $0.isNumber } ?? false) {
            r.invalid(m, "bucket", "\(path).bucket: '\(b)' is not an S3 bucket name (3-63 lower-case letters, digits, '-' and '.')")
            bucket = nil
        }
        var prefix = r.nonEmptyString(m, "prefix") ?? ""
        if prefix.hasPrefix("/") || prefix.contains("..") || prefix.contains(where: { $0 == " " || $0 == "\\" }) {
            r.invalid(m, "prefix", "\(path).prefix: '\(prefix)' must be a relative key prefix such as 'prod/etcd/' (no leading '/', '..', spaces)")
            prefix = ""
        } else if !prefix.isEmpty, !prefix.hasSuffix("/") {
            prefix += "/"
        }
        let region = r.nonEmptyString(m, "region") ?? "us-east-1"
        let pathStyle = r.bool(m, "pathStyle") ?? false
        let caFile = file(m, "caFile")
        let credentials = file(m, "credentialsFile")
        let operatorCredentials = file(m, "operatorCredentialsFile")
        guard let endpoint, let bucket, let credentials else { return nil }
        if !pathStyle, bucket.contains(".") {
            r.warning(at: "\(path).bucket", "\(path).bucket: '\(bucket)' contains '.', which breaks TLS for virtual-host style; set pathStyle: true")
        }
        return .s3(S3Destination(endpoint: endpoint, bucket: bucket, prefix: prefix, region: region, pathStyle: pathStyle, caFile: caFile,
                                 credentialsFile: credentials, operatorCredentialsFile: operatorCredentials))
    }

    func parsePKI(_ node: Node) -> PKISpec? {
        guard let m = section(node, path: "spec.pki") else { return nil }
        var p = PKISpec()
        if let a = r.enumValue(m, "keyAlgorithm", KeyAlgorithm.self, what: "key algorithm") { p.keyAlgorithm = a }
        for key in ["caValidity", "leafValidity"] {
            guard let v = r.timeSpan(m, key) else { continue }
            if v < .hours(1) {
                r.invalid(m, key, "spec.pki.\(key): \(v) is too short (at least 1h)")
            } else if key == "caValidity" { p.caValidity = v } else { p.leafValidity = v }
        }
        if p.leafValidity > p.caValidity, !r.invalidPaths.contains("spec.pki.leafValidity"), !r.invalidPaths.contains("spec.pki.caValidity") {
            r.error(at: "spec.pki.leafValidity", "spec.pki.leafValidity: \(p.leafValidity) is longer than caValidity \(p.caValidity); a certificate cannot outlive its CA")
        }
        if let e = m.value("externalCA"), let em = section(e, path: "spec.pki.externalCA") {
            if let cert = file(em, "certFile") { p.externalCA = ExternalCA(certFile: cert, keyFile: file(em, "keyFile")) }
        }
        return p
    }

    func parseSSH(_ node: Node, path: String) -> SSHSpec? {
        guard let m = section(node, path: path) else { return nil }
        var s = SSHSpec()
        s.user = r.nonEmptyString(m, "user")
        s.port = r.port(m, "port")
        s.identityFile = file(m, "identityFile")
        s.useAgent = r.bool(m, "agent")
        if let env = r.nonEmptyString(m, "passwordEnv") {
            if Syntax.isEnvironmentName(env) { s.passwordEnv = env } else {
                r.invalid(m, "passwordEnv", "\(path).passwordEnv: '\(env)' is not an environment variable name (the password itself never goes in the inventory)")
            }
        }
        s.become = r.bool(m, "become")
        if let b = m.value("bastion"), let bm = section(b, path: "\(path).bastion") {
            var address = r.nonEmptyString(bm, "address")
            if let a = address, !Syntax.isAddress(a) {
                r.invalid(bm, "address", "\(path).bastion.address: '\(a)' is not an IP address or DNS name")
                address = nil
            }
            let port = r.port(bm, "port") ?? 22
            if let address {
                s.bastion = BastionSpec(address: address, port: port, user: r.nonEmptyString(bm, "user"), identityFile: file(bm, "identityFile"))
            }
        }
        if let k = m.value("knownHosts"), let km = section(k, path: "\(path).knownHosts") {
            s.knownHostsFile = r.nonEmptyString(km, "file")
            s.knownHostsPolicy = r.enumValue(km, "policy", KnownHostsPolicy.self, what: "known_hosts policy")
            if let file = s.knownHostsFile { knownHostsFiles.append(("\(path).knownHosts.file", file, s.knownHostsPolicy)) }
        }
        s.transport = r.enumValue(m, "transport", SSHTransportKind.self, what: "SSH transport")
        if let t = r.timeSpan(m, "connectTimeout") {
            if t.seconds > 0 { s.connectTimeout = t } else { r.invalid(m, "connectTimeout", "\(path).connectTimeout: must be longer than 0s") }
        }
        return s
    }

    func parseArtifacts(_ node: Node) -> ArtifactSpec? {
        guard let m = section(node, path: "spec.artifacts") else { return nil }
        var a = ArtifactSpec()
        if let s = r.enumValue(m, "source", ArtifactSource.self, what: "artifact source") { a.source = s }
        if let u = r.nonEmptyString(m, "url") {
            if u.hasPrefix("https://") || u.hasPrefix("http://") { a.url = u } else {
                r.invalid(m, "url", "spec.artifacts.url: '\(u)' is not an http(s):// URL")
            }
        }
        a.directory = file(m, "directory", isDirectory: true)
        a.cacheDirectory = r.nonEmptyString(m, "cacheDirectory")
        if let peers = r.bool(m, "peerTransfer") { a.peerTransfer = peers }
        if r.invalidPaths.contains("spec.artifacts.source") { return a }
        switch a.source {
        case .mirror where a.url == nil && !r.invalidPaths.contains("spec.artifacts.url"):
            r.error(m.position, "spec.artifacts: source mirror needs url (the mirror's base URL with the upstream layout)")
        case .local where a.directory == nil && !r.invalidPaths.contains("spec.artifacts.directory"):
            r.error(m.position, "spec.artifacts: source local needs directory (a directory with the upstream layout; see `capstan artifacts`)")
        case .upstream where a.url != nil, .local where a.url != nil:
            r.warning(at: "spec.artifacts.url", "spec.artifacts.url: ignored with source \(a.source.rawValue) (url is for source: mirror)")
        default: break
        }
        return a
    }

    func parseComponents(_ node: Node) -> ComponentsSpec? {
        guard let m = section(node, path: "spec.components") else { return nil }
        var c = ComponentsSpec()
        c.containerd = r.version(m, "containerd")
        c.runc = r.version(m, "runc")
        c.crictl = r.version(m, "crictl")
        c.cni = r.version(m, "cni")
        for (key, version) in [("containerd", c.containerd), ("runc", c.runc)] {
            // Kubernetes 1.26+ speaks CRI v1 only, which containerd has from 1.6 on; runc 1.1 is containerd 1.6's floor.
            let floor = key == "containerd" ? SemanticVersion(1, 6, 0) : SemanticVersion(1, 1, 0)
            if let v = version, v < floor {
                r.invalid(m, key, "spec.components.\(key): \(v) is older than \(floor) (the oldest \(key) Kubernetes 1.26+ runs with)")
            }
        }
        return c
    }

    func parseAddons(_ node: Node) -> AddonsSpec? {
        guard let m = section(node, path: "spec.addons") else { return nil }
        var a = AddonsSpec()
        if let dnsNode = m.value("dns"), let d = section(dnsNode, path: "spec.addons.dns") {
            if let on = r.bool(d, "enabled") { a.dns.enabled = on }
            if let image = r.nonEmptyString(d, "image") {
                if Syntax.isImageReference(image) { a.dns.image = image } else {
                    r.invalid(d, "image", "spec.addons.dns.image: '\(image)' is not an image reference (REGISTRY/REPOSITORY:TAG or @sha256:DIGEST, e.g. registry.k8s.io/coredns/coredns:v1.11.3)")
                }
            }
            if let n = r.int(d, "replicas") {
                if (1...20).contains(n) { a.dns.replicas = n } else { r.invalid(d, "replicas", "spec.addons.dns.replicas: \(n) is outside 1-20") }
            }
            if let list = r.stringList(d, "upstreams") {
                if list.isEmpty { r.invalid(d, "upstreams", "spec.addons.dns.upstreams: the list is empty; give addresses or /etc/resolv.conf") }
                for (i, (item, itemNode)) in list.enumerated() where !Syntax.isDNSUpstream(item) {
                    r.error(itemNode.position, "spec.addons.dns.upstreams[\(i)]: '\(item)' is neither an IP address (with an optional :port) nor an absolute resolv.conf path")
                }
                a.dns.upstreams = list.map(\.0)
            }
        }
        if let monNode = m.value("monitoring"), let mon = section(monNode, path: "spec.addons.monitoring") {
            if let on = r.bool(mon, "enabled") { a.monitoring = on }
        }
        return a
    }

    func parseConcurrency(_ node: Node) -> ConcurrencySpec? {
        guard let m = section(node, path: "spec.concurrency") else { return nil }
        var c = ConcurrencySpec()
        func count(_ m: MappingView, _ key: String) -> Int? {
            guard let n = r.int(m, key) else { return nil }
            guard (1...ConcurrencySpec.maximum).contains(n) else {
                r.invalid(m, key, "\(m.child(key)): \(n) must be from 1 to \(ConcurrencySpec.maximum) hosts at once")
                return nil
            }
            return n
        }
        if let n = count(m, "hosts") { c.hosts = n }
        // The phase names are checked where the phases are known (`ClusterPhases.concurrencyProblems`).
        if let phasesNode = m.value("phases"), let pm = r.mapping(phasesNode, path: "spec.concurrency.phases", allowed: nil) {
            for entry in pm.entries {
                guard let n = count(pm, entry.key) else { continue }
                c.phases[entry.key] = n
                if let key = entry.keyNode.position, let value = entry.value.position {
                    c.places[entry.key] = ConcurrencySpec.Place(key: SourcePlace(line: key.line, column: key.column),
                                                                value: SourcePlace(line: value.line, column: value.column))
                }
            }
        }
        return c
    }

    func parseUpgrade(_ node: Node) -> UpgradeSpec? {
        guard let m = section(node, path: "spec.upgrade") else { return nil }
        var u = UpgradeSpec()
        if let text = r.string(m, "maxUnavailable") {
            if text.hasSuffix("%"), let p = Int(text.dropLast()), (1...100).contains(p) {
                u.maxUnavailable = .percent(p)
            } else if let n = Int(text), n >= 1 {
                u.maxUnavailable = .count(n)
            } else {
                r.invalid(m, "maxUnavailable", "spec.upgrade.maxUnavailable: '\(text)' must be a count of at least 1 or a percentage from 1% to 100%")
            }
        }
        if let d = r.timeSpan(m, "drainTimeout") { u.drainTimeout = d }
        return u
    }

    func parseHost(_ node: Node, path: String) -> HostSpec? {
        guard let m = section(node, path: path) else {
            incompleteHosts = true
            return nil
        }
        var name = r.nonEmptyString(m, "name")
        if let n = name, !Syntax.isDNSSubdomain(n) {
            r.invalid(m, "name", "\(path).name: '\(n)' is not a valid node name (lowercase letters, digits, '-' and '.', at most 253)")
            name = nil
        }
        var address = r.nonEmptyString(m, "address")
        if let a = address, !Syntax.isAddress(a) {
            r.invalid(m, "address", "\(path).address: '\(a)' is not an IP address or DNS name")
            address = nil
        }
        var internalAddress = r.nonEmptyString(m, "internalAddress")
        if let a = internalAddress, !Syntax.isIPAddress(a) {
            r.invalid(m, "internalAddress", "\(path).internalAddress: '\(a)' is not an IP address (cluster traffic binds to it)")
            internalAddress = nil
        }
        var roles: Set<Role> = []
        if let list = r.stringList(m, "roles") {
            if list.isEmpty { r.invalid(m, "roles", "\(path).roles: the list is empty; give control-plane, etcd and/or worker") }
            for (i, (text, item)) in list.enumerated() {
                guard let role = r.enumValue(text, Role.self, path: "\(path).roles[\(i)]", what: "role", node: item) else {
                    r.markInvalid("\(path).roles")
                    continue
                }
                if roles.contains(role) { r.warning(item.position, "\(path).roles[\(i)]: role \(role.rawValue) is listed twice") }
                roles.insert(role)
            }
        }
        let ssh = m.value("ssh").flatMap { parseSSH($0, path: "\(path).ssh") }
        var labels: [String: String] = [:]
        if let ln = m.value("labels") { labels = parseLabels(ln, path: "\(path).labels") }
        var taints: [Taint] = []
        if let tn = m.value("taints"), let items = r.sequence(tn, path: "\(path).taints") {
            for (i, item) in items.enumerated() {
                if let t = parseTaint(item, path: "\(path).taints[\(i)]") { taints.append(t) }
            }
        }
        guard let name, let address else {
            incompleteHosts = true
            return nil
        }
        return HostSpec(name: name, address: address, internalAddress: internalAddress, roles: roles, ssh: ssh, labels: labels, taints: taints)
    }

    func parseLabels(_ node: Node, path: String) -> [String: String] {
        guard case .mapping(let map) = node else {
            r.error(node.position, "\(path): expected a mapping of label keys to values, found \(node.kindDescription)")
            return [:]
        }
        var labels: [String: String] = [:]
        for (k, v) in map {
            guard case .scalar(let ks) = k else {
                r.error(k.position, "\(path): label keys must be strings, found \(k.kindDescription)")
                continue
            }
            if let problem = Syntax.labelKeyProblem(ks.string) {
                r.error(k.position, "\(path): invalid label key '\(ks.string)': \(problem)")
                continue
            }
            guard case .scalar(let vs) = v else {
                r.error(v.position, "\(path).\(ks.string): expected a string value, found \(v.kindDescription)")
                continue
            }
            let value = v.isNull ? "" : vs.string
            guard Syntax.isLabelValue(value) else {
                r.error(v.position, "\(path).\(ks.string): invalid label value '\(value)': at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
                continue
            }
            labels[ks.string] = value
        }
        return labels
    }

    func parseTaint(_ node: Node, path: String) -> Taint? {
        guard let m = section(node, path: path) else { return nil }
        var key = r.nonEmptyString(m, "key")
        if let k = key, let problem = Syntax.labelKeyProblem(k) {
            r.invalid(m, "key", "\(path).key: invalid taint key '\(k)': \(problem)")
            key = nil
        }
        var value = r.string(m, "value")
        if let v = value, !Syntax.isLabelValue(v) {
            r.invalid(m, "value", "\(path).value: invalid taint value '\(v)': at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
            value = nil
        }
        let effect = r.enumValue(m, "effect", Taint.Effect.self, what: "taint effect")
        guard let key, let effect else { return nil }
        return Taint(key: key, value: value, effect: effect)
    }

    // MARK: files

    /// A local file path; remembered for the readability check and resolved after parsing.
    func file(_ m: MappingView, _ key: String, isDirectory: Bool = false) -> String? {
        guard let p = r.nonEmptyString(m, key) else { return nil }
        if !isDirectory { files.append((m.child(key), p)) }
        return p
    }

    /// Rewrites local file paths to absolute ones (relative to the inventory file, `~` expanded).
    func resolvePaths(_ inv: inout Inventory) {
        let base = sourcePath
        func res(_ p: String?) -> String? { p.map { InventoryLoader.resolve($0, relativeTo: base) } }
        func resSSH(_ s: SSHSpec?) -> SSHSpec? {
            guard var s else { return nil }
            s.identityFile = res(s.identityFile)
            s.knownHostsFile = res(s.knownHostsFile)
            if var b = s.bastion { b.identityFile = res(b.identityFile); s.bastion = b }
            return s
        }
        inv.ssh = resSSH(inv.ssh) ?? inv.ssh
        for i in inv.hosts.indices { inv.hosts[i].ssh = resSSH(inv.hosts[i].ssh) }
        if var m = inv.controlPlane.managed {
            m.caFile = InventoryLoader.resolve(m.caFile, relativeTo: base)
            switch m.joinCredentials {
            case .bootstrapTokenFile(let f): m.joinCredentials = .bootstrapTokenFile(InventoryLoader.resolve(f, relativeTo: base))
            case .kubeconfigFile(let f): m.joinCredentials = .kubeconfigFile(InventoryLoader.resolve(f, relativeTo: base))
            }
            inv.controlPlane.managed = m
        }
        if var oidc = inv.controlPlane.oidc {
            oidc.caFile = res(oidc.caFile)
            inv.controlPlane.oidc = oidc
        }
        if var b = inv.etcd.backup {
            b.encryptionKeyFile = res(b.encryptionKeyFile)
            b.identityFile = res(b.identityFile)
            if case .local(let p) = b.destination { b.destination = .local(path: res(p)) }
            if case let .sftp(host, port, user, path, upload?) = b.destination {
                b.destination = .sftp(host: host, port: port, user: user, path: path,
                                      upload: SFTPUpload(user: upload.user, identityFile: InventoryLoader.resolve(upload.identityFile, relativeTo: base)))
            }
            if case .s3(var s) = b.destination {
                s.caFile = res(s.caFile)
                s.credentialsFile = InventoryLoader.resolve(s.credentialsFile, relativeTo: base)
                s.operatorCredentialsFile = res(s.operatorCredentialsFile)
                b.destination = .s3(s)
            }
            inv.etcd.backup = b
        }
        if var e = inv.pki.externalCA {
            e.certFile = InventoryLoader.resolve(e.certFile, relativeTo: base)
            e.keyFile = res(e.keyFile)
            inv.pki.externalCA = e
        }
        inv.artifacts.directory = res(inv.artifacts.directory)
        inv.artifacts.cacheDirectory = res(inv.artifacts.cacheDirectory)
        for i in inv.containerRuntime.registries.indices {
            inv.containerRuntime.registries[i].caFile = res(inv.containerRuntime.registries[i].caFile)
            inv.containerRuntime.registries[i].credentialsFile = res(inv.containerRuntime.registries[i].credentialsFile)
        }
    }

    /// Keys, CA files, tokens: each must be a readable regular file on this machine.
    /// Under `policy: strict`, a known_hosts file that does not exist would refuse every host: say so now.
    func checkKnownHosts(clusterPolicy: KnownHostsPolicy?) {
        for entry in knownHostsFiles where (entry.policy ?? clusterPolicy ?? .strict) == .strict {
            let resolved = InventoryLoader.resolve(entry.written, relativeTo: sourcePath)
            guard !FileManager.default.fileExists(atPath: resolved) else { continue }
            r.error(at: entry.path, "\(entry.path): \(resolved) does not exist, and with policy strict every host key would be refused; add the hosts' keys (ssh-keyscan -H HOST >> \(resolved), then compare the fingerprints with the hosts' own) or set policy: accept-new for the first connection")
        }
    }

    func checkReadable() {
        for (path, written) in files {
            let resolved = InventoryLoader.resolve(written, relativeTo: sourcePath)
            var isDir: ObjCBool = false
            let why: String
            if !FileManager.default.fileExists(atPath: resolved, isDirectory: &isDir) {
                why = "no such file"
            } else if isDir.boolValue {
                why = "it is a directory"
            } else if !FileManager.default.isReadableFile(atPath: resolved) {
                why = "permission denied"
            } else {
                continue
            }
            r.error(at: path, "\(path): cannot read \(resolved): \(why)")
        }
    }
}
