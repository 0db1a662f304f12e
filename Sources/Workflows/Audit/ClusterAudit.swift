import Foundation
import Hosts
import Inventory
import Yams

/// `capstan audit`: the CIS Kubernetes Benchmark's checks for a systemd (non-static-pod) layout, read from the
/// live hosts: the unit files' command lines, the kubelet's and kube-proxy's configuration files, the
/// EncryptionConfiguration's providers, and the modes and owners of every file the checks name. Check numbers
/// are those of the benchmark v1.11 (Kubernetes 1.29-1.31) and v1.12 (1.32), which number these checks alike.
///
/// Each result is `pass`, `fail`, `differs` (Capstan deliberately does otherwise; the detail says why) or
/// `manual` (the benchmark leaves it to judgement; the detail gives what the host has).
public enum ClusterAudit {
    public enum Status: String, Sendable, Codable { case pass, fail, differs, manual }

    public struct Result: Sendable, Codable, Equatable {
        public var id: String
        public var host: String
        public var title: String
        public var status: Status
        public var detail: String
    }

    public struct Report: Sendable, Codable, Equatable {
        public var benchmark: String
        public var results: [Result]
        public var unreachable: [String: String]
        public var failed: Int { results.filter { $0.status == .fail }.count }
    }

    /// The benchmark version whose numbering the report uses, for a Kubernetes minor.
    public static func benchmark(for version: SemanticVersion) -> String {
        version.minor >= 32 ? "CIS Kubernetes Benchmark v1.12" : "CIS Kubernetes Benchmark v1.11"
    }

    /// Reads every self-managed host (all at once) and evaluates the checks for its roles.
    public static func run(inventory: Inventory, hosts: [HostSpec], in ctx: WorkflowContext) async throws -> Report {
        guard inventory.isSelfManaged else {
            throw WorkflowError.refused(what: "audit the control plane", found: "the cluster is managed: the provider runs its control plane and etcd",
                                        next: "use the provider's benchmark report for the control plane")
        }
        let outcomes = await FanOut.run(hosts, name: \.name) { host in
            try audit(host, inventory: inventory, facts: try await HostAuditFacts.read(host, inventory: inventory, in: ctx))
        }
        var report = Report(benchmark: benchmark(for: inventory.kubernetesVersion), results: [], unreachable: [:])
        for outcome in outcomes {
            switch outcome.result {
            case .success(let results): report.results += results
            case .failure(let error): report.unreachable[outcome.host] = "\(error)"
            }
        }
        return report
    }

    /// The checks for one host's roles, evaluated on what was read there.
    static func audit(_ host: HostSpec, inventory: Inventory, facts: HostAuditFacts) throws -> [Result] {
        var out = AuditResults(host: host.name, facts: facts)
        if host.has(.controlPlane) { out.controlPlane(inventory: inventory) }
        if inventory.etcdMembers.contains(where: { $0.name == host.name }) { out.etcd(inventory: inventory) }
        if host.has(.controlPlane) || host.has(.worker) { out.node() }
        return out.results
    }
}

/// What the checks read on one host. Unchecked: the decoded YAML documents are trees of strings, numbers,
/// booleans, arrays and dictionaries, read once and never mutated.
struct HostAuditFacts: @unchecked Sendable {
    /// Path → (octal mode, "user:group").
    var stats: [String: (mode: Int, owner: String)] = [:]
    /// Unit name → flag name → value, from the unit file's ExecStart.
    var flags: [String: [String: String]] = [:]
    var kubeletConfig: [String: Any]?
    var proxyConfig: [String: Any]?
    /// The providers of the EncryptionConfiguration's entry for secrets, in order (no key material).
    var encryptionProviders: [String]?
    /// SHA-256 of the cluster CA and of the etcd CA certificates.
    var clusterCA: String?
    var etcdCA: String?

    static let units = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kubelet", "kube-proxy"]
    static let kubeletConfigPath = "/var/lib/kubelet/config.yaml"
    static let proxyConfigPath = "/var/lib/kube-proxy/config.conf"

    static func read(_ host: HostSpec, inventory: Inventory, in ctx: WorkflowContext) async throws -> HostAuditFacts {
        let reader = try await ctx.reader(host.name)
        var facts = HostAuditFacts()
        for unit in units {
            guard let text = try await reader.read("/etc/systemd/system/\(unit).service") else { continue }
            facts.flags[unit] = execStartFlags(String(decoding: text, as: UTF8.self))
        }
        func yaml(_ path: String) async throws -> [String: Any]? {
            guard let data = try await reader.read(path) else { return nil }
            return try Yams.load(yaml: String(decoding: data, as: UTF8.self)) as? [String: Any]
        }
        facts.kubeletConfig = try await yaml(kubeletConfigPath)
        facts.proxyConfig = try await yaml(proxyConfigPath)
        if let path = facts.flags["kube-apiserver"]?["encryption-provider-config"], let config = try await yaml(path) {
            let entries = config["resources"] as? [[String: Any]] ?? []
            let secrets = entries.first { ($0["resources"] as? [String] ?? []).contains("secrets") }
            facts.encryptionProviders = (secrets?["providers"] as? [[String: Any]] ?? []).compactMap { $0.keys.sorted().first }
        }
        var paths = ["/etc/systemd/system", "/etc/kubernetes", "/etc/cni/net.d", kubeletConfigPath, proxyConfigPath]
        paths += units.map { "/etc/systemd/system/\($0).service" }
        if let dataDir = facts.flags["etcd"]?["data-dir"] { paths.append(dataDir) }
        let script = #"""
            for f in "$@"; do [ -e "$f" ] && stat -c '%a %U:%G %n' -- "$f"; done
            [ -d /etc/kubernetes ] && find /etc/kubernetes -maxdepth 1 -type f -exec stat -c '%a %U:%G %n' {} +
            for d in /etc/kubernetes/pki /etc/cni/net.d; do [ -d "$d" ] && find "$d" -exec stat -c '%a %U:%G %n' {} +; done
            for f in /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/etcd/ca.crt; do [ -f "$f" ] && printf 'sha %s %s\n' "$(sha256sum < "$f" | cut -c1-64)" "$f"; done
            true
            """#
        let result = try await reader.run(ShellCommand(["sh", "-c", script, "sh"] + paths), options: RunOptions(timeoutSeconds: 60))
        guard result.succeeded else {
            throw WorkflowError.hostFailed(host: host.name, what: "read file modes for the audit", reason: result.stderrText, next: "check SSH and sudo on the host")
        }
        for line in result.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard parts.count == 3 else { continue }
            if parts[0] == "sha" {
                if parts[2].hasSuffix("/etcd/ca.crt") { facts.etcdCA = parts[1] } else { facts.clusterCA = parts[1] }
            } else if let mode = Int(parts[0], radix: 8) {
                facts.stats[parts[2]] = (mode, parts[1])
            }
        }
        return facts
    }

    /// `--name=value` flags of a unit file's ExecStart (continuation lines joined); a flag without `=` is "true".
    static func execStartFlags(_ unit: String) -> [String: String] {
        guard let start = unit.range(of: "ExecStart=") else { return [:] }
        var line = ""
        for raw in unit[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let text = raw.trimmingCharacters(in: .whitespaces)
            if text.hasSuffix("\\") { line += text.dropLast() + " " } else { line += text; break }
        }
        var flags: [String: String] = [:]
        for word in line.split(separator: " ") where word.hasPrefix("--") {
            let body = word.dropFirst(2)
            if let eq = body.firstIndex(of: "=") { flags[String(body[..<eq])] = String(body[body.index(after: eq)...]) } else { flags[String(body)] = "true" }
        }
        return flags
    }
}

/// The checks, written against one host's facts.
struct AuditResults {
    let host: String
    let facts: HostAuditFacts
    var results: [ClusterAudit.Result] = []

    init(host: String, facts: HostAuditFacts) {
        self.host = host
        self.facts = facts
    }

    mutating func add(_ id: String, _ title: String, _ status: ClusterAudit.Status, _ detail: String) {
        results.append(.init(id: id, host: host, title: title, status: status, detail: detail))
    }

    /// Pass when `ok`, fail otherwise, with `detail` either way.
    mutating func check(_ id: String, _ title: String, _ ok: Bool, _ detail: String) {
        add(id, title, ok ? .pass : .fail, detail)
    }

    static let unitModeWhy = "systemd serves every unit's contents through its API whatever the file's mode (and warns about world-inaccessible units); the command line holds no secret, only paths to 0600 files"

    /// Mode at most `max` (no bit outside it) and owner `owner`, as two checks.
    mutating func file(_ path: String, modeID: String?, ownerID: String?, what: String, max: Int, owner: String = "root:root",
                       modeDiffersWhy: String? = nil) {
        guard let stat = facts.stats[path] else {
            if let modeID { add(modeID, "\(what) permissions", .fail, "\(path) is missing") }
            return
        }
        let shown = String(stat.mode, radix: 8)
        if let modeID {
            let ok = stat.mode & ~max == 0
            if !ok, let why = modeDiffersWhy, stat.mode == 0o644 {
                add(modeID, "\(what) permissions are \(String(max, radix: 8)) or more restrictive", .differs, "\(path) is \(shown): \(why)")
            } else {
                check(modeID, "\(what) permissions are \(String(max, radix: 8)) or more restrictive", ok,
                      "\(path) is \(shown)" + (ok ? "" : "; `capstan apply` puts Capstan's files back to their modes"))
            }
        }
        if let ownerID {
            check(ownerID, "\(what) ownership is \(owner)", stat.owner == owner, "\(path) is owned by \(stat.owner)")
        }
    }

    func flag(_ unit: String, _ name: String) -> String? { facts.flags[unit]?[name] }

    mutating func flagSet(_ id: String, _ unit: String, _ names: [String], _ title: String) {
        let missing = names.filter { (flag(unit, $0) ?? "").isEmpty }
        check(id, title, missing.isEmpty, missing.isEmpty ? names.map { "--\($0)=\(flag(unit, $0) ?? "")" }.joined(separator: " ") : "\(unit): --\(missing.joined(separator: ", --")) not set")
    }

    mutating func flagIs(_ id: String, _ unit: String, _ name: String, _ title: String, default fallback: String?, _ ok: (String) -> Bool) {
        let value = flag(unit, name) ?? fallback
        check(id, title, value.map(ok) ?? false, "\(unit): --\(name)=\(value ?? "(not set)")" + (flag(unit, name) == nil && fallback != nil ? " (the binary's default)" : ""))
    }

    func list(_ value: String?) -> [String] { (value ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    mutating func controlPlane(inventory: Inventory) {
        let unitDir = "/etc/systemd/system/"
        for (ids, unit, what) in [(("1.1.1", "1.1.2"), "kube-apiserver", "the API server unit file"),
                                  (("1.1.3", "1.1.4"), "kube-controller-manager", "the controller manager unit file"),
                                  (("1.1.5", "1.1.6"), "kube-scheduler", "the scheduler unit file")] {
            file(unitDir + unit + ".service", modeID: ids.0, ownerID: ids.1, what: what, max: 0o600, modeDiffersWhy: Self.unitModeWhy)
        }
        for path in facts.stats.keys.sorted() where path.hasPrefix("/etc/cni/net.d/") {
            file(path, modeID: "1.1.9", ownerID: "1.1.10", what: "the CNI configuration", max: 0o600)
        }
        file("/etc/kubernetes/admin.conf", modeID: "1.1.13", ownerID: "1.1.14", what: "the administrative kubeconfig", max: 0o600)
        file("/etc/kubernetes/scheduler.conf", modeID: "1.1.15", ownerID: "1.1.16", what: "scheduler.conf", max: 0o600)
        file("/etc/kubernetes/controller-manager.conf", modeID: "1.1.17", ownerID: "1.1.18", what: "controller-manager.conf", max: 0o600)
        let pki = facts.stats.filter { $0.key == "/etc/kubernetes/pki" || $0.key.hasPrefix("/etc/kubernetes/pki/") }
        // etcd's own files under pki/etcd belong to etcd's user on members (2.x covers them).
        let notRoot = pki.filter { $0.value.owner != "root:root" && !$0.key.hasPrefix("/etc/kubernetes/pki/etcd/") }.keys.sorted()
        check("1.1.19", "the Kubernetes PKI directory and file ownership is root:root", notRoot.isEmpty,
              notRoot.isEmpty ? "\(pki.count) entries under /etc/kubernetes/pki" : "not root:root: \(notRoot.joined(separator: ", "))")
        let certs = pki.filter { $0.key.hasSuffix(".crt") || $0.key.hasSuffix(".pub") }
        let loose = certs.filter { $0.value.mode & ~0o644 != 0 }.keys.sorted()
        check("1.1.20", "the Kubernetes PKI certificate file permissions are 644 or more restrictive", loose.isEmpty,
              loose.isEmpty ? "\(certs.count) certificate and public key files" : "looser than 644: \(loose.joined(separator: ", "))")
        let keys = pki.filter { $0.key.hasSuffix(".key") }
        let open = keys.filter { $0.value.mode & ~0o600 != 0 }.keys.sorted()
        check("1.1.21", "the Kubernetes PKI key file permissions are 600", open.isEmpty,
              open.isEmpty ? "\(keys.count) key files" : "looser than 600: \(open.joined(separator: ", "))")

        let api = "kube-apiserver"
        let anonymous = flag(api, "anonymous-auth") ?? "true"
        if anonymous == "false" {
            add("1.2.1", "--anonymous-auth is false", .pass, "\(api): --anonymous-auth=false")
        } else {
            add("1.2.1", "--anonymous-auth is false", .differs, "\(api): anonymous requests are allowed, and RBAC gives them /livez, /readyz, /healthz and /version only (system:public-info-viewer): the load balancers' health checks and Capstan's health gates probe those without a client certificate")
        }
        check("1.2.2", "--token-auth-file is not set", flag(api, "token-auth-file") == nil, flag(api, "token-auth-file").map { "\(api): --token-auth-file=\($0)" } ?? "not set")
        manualValue("1.2.3", "the DenyServiceExternalIPs admission plugin", list(flag(api, "enable-admission-plugins")).contains("DenyServiceExternalIPs") ? "enabled" : "not enabled: Services may set externalIPs; enable it with spec.extraArgs.kube-apiserver when no Service needs them")
        flagSet("1.2.4", api, ["kubelet-client-certificate", "kubelet-client-key"], "--kubelet-client-certificate and --kubelet-client-key are set")
        flagSet("1.2.5", api, ["kubelet-certificate-authority"], "--kubelet-certificate-authority is set")
        let modes = list(flag(api, "authorization-mode") ?? "AlwaysAllow")
        check("1.2.6", "--authorization-mode is not AlwaysAllow", !modes.contains("AlwaysAllow"), "\(api): --authorization-mode=\(modes.joined(separator: ","))")
        check("1.2.7", "--authorization-mode includes Node", modes.contains("Node"), "\(api): --authorization-mode=\(modes.joined(separator: ","))")
        check("1.2.8", "--authorization-mode includes RBAC", modes.contains("RBAC"), "\(api): --authorization-mode=\(modes.joined(separator: ","))")
        let enabled = list(flag(api, "enable-admission-plugins")), disabled = list(flag(api, "disable-admission-plugins"))
        manualValue("1.2.9", "the EventRateLimit admission plugin", enabled.contains("EventRateLimit") ? "enabled" : "not enabled (it needs an admission configuration file; Capstan writes none yet)")
        check("1.2.10", "the AlwaysAdmit admission plugin is not set", !enabled.contains("AlwaysAdmit"), "--enable-admission-plugins=\(enabled.joined(separator: ","))")
        manualValue("1.2.11", "the AlwaysPullImages admission plugin", enabled.contains("AlwaysPullImages") ? "enabled" : "not enabled: nodes reuse pulled images (pulls from an air-gapped site's registry stay optional)")
        check("1.2.12", "the ServiceAccount admission plugin is set", !disabled.contains("ServiceAccount"), "on by default; --disable-admission-plugins=\(disabled.joined(separator: ","))")
        check("1.2.13", "the NamespaceLifecycle admission plugin is set", !disabled.contains("NamespaceLifecycle"), "on by default; --disable-admission-plugins=\(disabled.joined(separator: ","))")
        check("1.2.14", "the NodeRestriction admission plugin is set", enabled.contains("NodeRestriction"), "--enable-admission-plugins=\(enabled.joined(separator: ","))")
        flagIs("1.2.15", api, "profiling", "--profiling is false", default: "true") { $0 == "false" }
        flagSet("1.2.16", api, ["audit-log-path"], "--audit-log-path is set")
        flagIs("1.2.17", api, "audit-log-maxage", "--audit-log-maxage is 30 or more", default: nil) { (Int($0) ?? 0) >= 30 }
        flagIs("1.2.18", api, "audit-log-maxbackup", "--audit-log-maxbackup is 10 or more", default: nil) { (Int($0) ?? 0) >= 10 }
        flagIs("1.2.19", api, "audit-log-maxsize", "--audit-log-maxsize is 100 or more", default: nil) { (Int($0) ?? 0) >= 100 }
        manualValue("1.2.20", "--request-timeout", flag(api, "request-timeout").map { "--request-timeout=\($0)" } ?? "the default, 1m0s")
        flagIs("1.2.21", api, "service-account-lookup", "--service-account-lookup is true", default: "true") { $0 == "true" }
        flagSet("1.2.22", api, ["service-account-key-file"], "--service-account-key-file is set")
        flagSet("1.2.23", api, ["etcd-certfile", "etcd-keyfile"], "--etcd-certfile and --etcd-keyfile are set")
        flagSet("1.2.24", api, ["tls-cert-file", "tls-private-key-file"], "--tls-cert-file and --tls-private-key-file are set")
        flagSet("1.2.25", api, ["client-ca-file"], "--client-ca-file is set")
        flagSet("1.2.26", api, ["etcd-cafile"], "--etcd-cafile is set")
        flagSet("1.2.27", api, ["encryption-provider-config"], "--encryption-provider-config is set")
        let providers = facts.encryptionProviders ?? []
        check("1.2.28", "encryption providers are appropriately configured", ["aescbc", "aesgcm", "secretbox", "kms"].contains(providers.first ?? ""),
              providers.isEmpty ? "no provider for secrets" : "secrets: \(providers.joined(separator: ", ")) (the first one writes)")
        let suites = list(flag(api, "tls-cipher-suites"))
        check("1.2.29", "the API server only uses strong cryptographic ciphers", !suites.isEmpty && suites.allSatisfy(Self.strongAPIServerSuites.contains),
              suites.isEmpty ? "--tls-cipher-suites not set (Go's defaults include CBC suites)" : "--tls-cipher-suites=\(suites.joined(separator: ","))")
        flagIs("1.2.30", api, "service-account-extend-token-expiration", "--service-account-extend-token-expiration is false", default: "true") { $0 == "false" }

        let cm = "kube-controller-manager"
        manualValue("1.3.1", "--terminated-pod-gc-threshold", flag(cm, "terminated-pod-gc-threshold").map { "--terminated-pod-gc-threshold=\($0)" } ?? "the default, 12500")
        flagIs("1.3.2", cm, "profiling", "--profiling is false", default: "true") { $0 == "false" }
        flagIs("1.3.3", cm, "use-service-account-credentials", "--use-service-account-credentials is true", default: "false") { $0 == "true" }
        flagSet("1.3.4", cm, ["service-account-private-key-file"], "--service-account-private-key-file is set")
        flagSet("1.3.5", cm, ["root-ca-file"], "--root-ca-file is set")
        let gates = list(flag(cm, "feature-gates"))
        check("1.3.6", "RotateKubeletServerCertificate is true", !gates.contains("RotateKubeletServerCertificate=false"),
              "on by default; --feature-gates=\(gates.joined(separator: ","))")
        flagIs("1.3.7", cm, "bind-address", "--bind-address is 127.0.0.1", default: "0.0.0.0") { $0 == "127.0.0.1" }

        let sched = "kube-scheduler"
        if let profiling = flag(sched, "profiling") {
            check("1.4.1", "--profiling is false", profiling == "false", "\(sched): --profiling=\(profiling)")
        } else {
            add("1.4.1", "--profiling is false", .differs, "kube-scheduler 1.29+ has no --profiling flag (only KubeSchedulerConfiguration's enableProfiling, and Capstan writes no scheduler configuration yet); its /debug/pprof answers on the loopback-bound secure port only, to authenticated and authorized clients")
        }
        flagIs("1.4.2", sched, "bind-address", "--bind-address is 127.0.0.1", default: "0.0.0.0") { $0 == "127.0.0.1" }
    }

    mutating func manualValue(_ id: String, _ title: String, _ detail: String) { add(id, title, .manual, detail) }

    mutating func etcd(inventory: Inventory) {
        file("/etc/systemd/system/etcd.service", modeID: "1.1.7", ownerID: "1.1.8", what: "the etcd unit file", max: 0o600, modeDiffersWhy: Self.unitModeWhy)
        if let dataDir = flag("etcd", "data-dir") {
            file(dataDir, modeID: "1.1.11", ownerID: "1.1.12", what: "the etcd data directory", max: 0o700, owner: "etcd:etcd")
        } else {
            add("1.1.11", "the etcd data directory permissions", .fail, "the etcd unit has no --data-dir")
        }
        flagSet("2.1", "etcd", ["cert-file", "key-file"], "--cert-file and --key-file are set")
        flagIs("2.2", "etcd", "client-cert-auth", "--client-cert-auth is true", default: "false") { $0 == "true" }
        flagIs("2.3", "etcd", "auto-tls", "--auto-tls is not true", default: "false") { $0 != "true" }
        flagSet("2.4", "etcd", ["peer-cert-file", "peer-key-file"], "--peer-cert-file and --peer-key-file are set")
        flagIs("2.5", "etcd", "peer-client-cert-auth", "--peer-client-cert-auth is true", default: "false") { $0 == "true" }
        flagIs("2.6", "etcd", "peer-auto-tls", "--peer-auto-tls is not true", default: "false") { $0 != "true" }
        let unique = facts.etcdCA != nil && facts.etcdCA != facts.clusterCA
        check("2.7", "a unique Certificate Authority is used for etcd", unique,
              unique ? "/etc/kubernetes/pki/etcd/ca.crt differs from the cluster CA" : "the etcd CA is the cluster CA or missing")
    }

    static let strongAPIServerSuites: Set<String> = [
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ]
    static let strongKubeletSuites: Set<String> = [
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_RSA_WITH_AES_128_GCM_SHA256",
    ]

    mutating func node() {
        file("/etc/systemd/system/kubelet.service", modeID: "4.1.1", ownerID: "4.1.2", what: "the kubelet unit file", max: 0o600, modeDiffersWhy: Self.unitModeWhy)
        file("/etc/kubernetes/kube-proxy.conf", modeID: "4.1.3", ownerID: "4.1.4", what: "kube-proxy's kubeconfig", max: 0o600)
        file("/etc/kubernetes/kubelet.conf", modeID: "4.1.5", ownerID: "4.1.6", what: "the kubelet's kubeconfig", max: 0o600)
        let config = facts.kubeletConfig ?? [:]
        let auth = config["authentication"] as? [String: Any] ?? [:]
        let clientCA = (auth["x509"] as? [String: Any])?["clientCAFile"] as? String
        if let clientCA {
            file(clientCA, modeID: "4.1.7", ownerID: "4.1.8", what: "the kubelet's client CA file", max: 0o644)
        } else {
            add("4.1.7", "the kubelet's client CA file permissions", .fail, "the kubelet configuration names no clientCAFile")
        }
        file(HostAuditFacts.kubeletConfigPath, modeID: "4.1.9", ownerID: "4.1.10", what: "the kubelet configuration file", max: 0o600)
        guard facts.kubeletConfig != nil else {
            add("4.2.1", "the kubelet configuration", .fail, "\(HostAuditFacts.kubeletConfigPath) is missing or not a mapping")
            return
        }
        let anonymous = (auth["anonymous"] as? [String: Any])?["enabled"] as? Bool
        check("4.2.1", "the kubelet's anonymous authentication is off", anonymous == false, "authentication.anonymous.enabled: \(anonymous.map(String.init) ?? "(default true)")")
        let mode = (config["authorization"] as? [String: Any])?["mode"] as? String ?? "AlwaysAllow"
        check("4.2.2", "the kubelet's authorization mode is not AlwaysAllow", mode != "AlwaysAllow", "authorization.mode: \(mode)")
        check("4.2.3", "the kubelet's client CA file is set", clientCA != nil, "authentication.x509.clientCAFile: \(clientCA ?? "(not set)")")
        let readOnly = config["readOnlyPort"] as? Int ?? 0
        check("4.2.4", "the kubelet's read-only port is 0", readOnly == 0, "readOnlyPort: \(readOnly)")
        let idle = config["streamingConnectionIdleTimeout"] as? String ?? "4h0m0s"
        check("4.2.5", "the kubelet's streaming connection idle timeout is not 0", !["0", "0s"].contains(idle), "streamingConnectionIdleTimeout: \(idle)")
        let chains = config["makeIPTablesUtilChains"] as? Bool ?? true
        check("4.2.6", "the kubelet makes its iptables utility chains", chains, "makeIPTablesUtilChains: \(chains)")
        if let override = flag("kubelet", "hostname-override") {
            add("4.2.7", "--hostname-override is not set", .differs, "--hostname-override=\(override): the node's name is the inventory's host name, which the node's certificates, pod routes and etcd membership use, whatever the host calls itself")
        } else {
            add("4.2.7", "--hostname-override is not set", .pass, "not set")
        }
        manualValue("4.2.8", "eventRecordQPS", (config["eventRecordQPS"] as? Int).map { "eventRecordQPS: \($0)" } ?? "the default, 50 per second")
        let served = config["tlsCertFile"] as? String, servedKey = config["tlsPrivateKeyFile"] as? String
        check("4.2.9", "the kubelet's serving certificate and key are set", served != nil && servedKey != nil,
              "tlsCertFile: \(served ?? "(not set)"), tlsPrivateKeyFile: \(servedKey ?? "(not set)")")
        let rotate = config["rotateCertificates"] as? Bool ?? false
        check("4.2.10", "the kubelet rotates its client certificate", rotate, "rotateCertificates: \(rotate)")
        if served != nil {
            add("4.2.11", "RotateKubeletServerCertificate", .differs, "the kubelet serves a certificate Capstan issues from the cluster CA and renews (`certs rotate`, `apply --renew-before`), so no in-cluster approver has to decide which addresses a node may claim")
        } else {
            manualValue("4.2.11", "RotateKubeletServerCertificate", "serverTLSBootstrap: \(config["serverTLSBootstrap"] as? Bool ?? false)")
        }
        let suites = config["tlsCipherSuites"] as? [String] ?? []
        check("4.2.12", "the kubelet only uses strong cryptographic ciphers", !suites.isEmpty && suites.allSatisfy(Self.strongKubeletSuites.contains),
              suites.isEmpty ? "tlsCipherSuites not set" : "tlsCipherSuites: \(suites.joined(separator: ","))")
        let pids = config["podPidsLimit"] as? Int ?? -1
        check("4.2.13", "a limit is set on pod PIDs", pids > 0, "podPidsLimit: \(pids)")
        let seccomp = config["seccompDefault"] as? Bool ?? false
        if seccomp {
            add("4.2.14", "seccompDefault is true", .pass, "seccompDefault: true")
        } else {
            add("4.2.14", "seccompDefault is true", .differs, "seccompDefault: false: RuntimeDefault for every pod blocks syscalls some workloads need; pods opt in with securityContext.seccompProfile")
        }
        let metrics = (facts.proxyConfig?["metricsBindAddress"] as? String) ?? "0.0.0.0:10249"
        check("4.3.1", "kube-proxy's metrics are bound to localhost", metrics.hasPrefix("127.0.0.1:") || metrics.hasPrefix("[::1]:"), "metricsBindAddress: \(metrics)")
    }
}
