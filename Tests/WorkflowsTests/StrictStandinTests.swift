import Foundation
import Inventory
import PKI
import Templates
import Testing
import TestSupport
@testable import Workflows

/// Runs a program to its end, its standard output discarded; returns its exit status and standard error.
func runCollectingStderr(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let run = try runProgram([executable] + arguments)
    return (run.status, run.stderr)
}

/// The strict stand-in (`Tests/Standins/k8s-standin.py check`): flags parsed as pflag parses them against the
/// flag table of each binary and minor, configuration files and kubeconfigs decoded against the upstream types
/// of that minor. Nothing is started, so a bad flag or field Capstan renders fails here in seconds.
enum StrictStandin {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let script = repository.appendingPathComponent("Tests/Standins/k8s-standin.py").path
    static let minors = SupportedVersions.kubernetes.map { "1.\($0.minor).0" }

    struct Result {
        var status: Int32
        var stderr: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        let (status, stderr) = try runCollectingStderr("/usr/bin/env", ["python3", script] + arguments)
        return Result(status: status, stderr: stderr)
    }

    struct Job: Encodable {
        var binary: String
        var version: String
        var root = ""
        var arguments: [String]
    }

    /// Many `check`s in one process (`check-batch`), results in the order of `jobs`.
    static func checkAll(_ jobs: [Job]) throws -> [Result] {
        let run = try runProgram(["python3", script, "check-batch"], input: try JSONEncoder().encode(jobs))
        guard run.succeeded,
              let answers = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]], answers.count == jobs.count else {
            throw CheckBatchFailed(message: run.stderr)
        }
        return answers.map { Result(status: Int32($0["status"] as? Int ?? -1), stderr: $0["stderr"] as? String ?? "") }
    }

    struct CheckBatchFailed: Error, CustomStringConvertible {
        var message: String
        var description: String { "k8s-standin.py check-batch failed: \(message)" }
    }

    /// `check NAME VERSION --root ROOT -- ARGS`: flags, then every file they name, under `root`.
    static func check(_ binary: String, _ version: String, root: String = "", _ arguments: [String]) throws -> Result {
        try run(["check", binary, version] + (root.isEmpty ? [] : ["--root", root]) + ["--"] + arguments)
    }

    /// The program and arguments of a unit's ExecStart, split as systemd splits them (Capstan quotes nothing).
    static func execStart(_ unit: String) -> (binary: String, arguments: [String])? {
        guard let start = unit.range(of: "\nExecStart=") else { return nil }
        var words: [String] = []
        for line in unit[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            let continued = line.hasSuffix("\\")
            words += (continued ? line.dropLast() : line).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if !continued { break }
        }
        guard let program = words.first else { return nil }
        return ((program as NSString).lastPathComponent, Array(words.dropFirst()))
    }

    /// A scratch root holding `files` at their host paths.
    static func materialize(_ files: [ManagedFile]) throws -> String {
        let root = NSTemporaryDirectory() + "capstan-strict-\(UUID().uuidString)"
        for file in files {
            let url = URL(fileURLWithPath: root + file.path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try file.content.write(to: url)
        }
        return root
    }

    /// Every service Capstan renders for `inventory` (unit + inputs) and every PKI file and kubeconfig beside them,
    /// per host: hosts share paths (every kubelet reads /var/lib/kubelet/config.yaml), so each is checked in a
    /// root of its own.
    static func rendered(_ inventory: Inventory, state: String) async throws -> (services: [String: [ServiceSpec]], files: [String: [ManagedFile]]) {
        let renderer = TemplateRenderer()
        var services: [String: [ServiceSpec]] = [:]
        var files: [String: [ManagedFile]] = [:]
        let versions = try #require(ComponentVersions.defaults(for: inventory.kubernetesVersion))
        if inventory.isSelfManaged {
            try await PKIPhase.create(PKIManager(inventory: inventory, state: StateDirectory(root: state)), now: Date())
            let cluster = try ClusterFiles(inventory: inventory, state: StateDirectory(root: state))
            let nodes = Set(WorkerWorkflow.nodes(inventory).map(\.name))
            for host in inventory.hosts {
                files[host.name, default: []] += try cluster.files(for: host)
                if nodes.contains(host.name) {
                    let node = try NodeFiles.render(host: host, inventory: inventory, versions: versions, renderer: renderer)
                    services[host.name, default: []] += [node.kubelet] + (node.kubeProxy.map { [$0] } ?? [])
                }
                if host.has(.controlPlane) {
                    let cp = try ControlPlaneFiles.render(host: host, inventory: inventory, files: cluster, renderer: renderer)
                    services[host.name, default: []] += [cp.apiServer, cp.controllerManager, cp.scheduler]
                }
            }
        } else {
            // Managed mode: the kubelet joins with the bootstrap kubeconfig, rendered here from a token of
            // the right form (the example's token and CA files are placeholders).
            let bootstrap = try renderer.render("kubernetes/bootstrap-kubelet.conf", context: KubeletBootstrapContext(
                clusterName: inventory.name, server: "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
                caData: Data("-----BEGIN CERTIFICATE-----\n".utf8).base64EncodedString(), token: "abcdef.0123456789abcdef"))
            for host in inventory.workerHosts {
                files[host.name, default: []].append(ManagedFile(path: ManagedJoin.bootstrapKubeconfigPath, text: bootstrap))
                let node = try NodeFiles.render(host: host, inventory: inventory, versions: versions, renderer: renderer,
                                                bootstrapKubeconfig: ManagedJoin.bootstrapKubeconfigPath)
                services[host.name, default: []] += [node.kubelet]
            }
        }
        for (host, specs) in services {
            files[host, default: []] += specs.flatMap { [$0.unitFile] + $0.inputs }
        }
        return (services, files)
    }
}

@Suite("the strict stand-in checks what Capstan renders for every supported version", .tags(.unit))
struct StrictStandinRenderedTests {

    @Test("every unit and file of every example inventory passes for Kubernetes 1.29 to 1.32", arguments: ExampleInventory.all.map(\.name))
    func examplePasses(_ name: String) async throws {
        let path = StrictStandin.repository.appendingPathComponent("inventories/\(name).yaml").path
        let inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        let state = NSTemporaryDirectory() + "capstan-strict-state-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let (services, files) = try await StrictStandin.rendered(inventory, state: state)
        var roots: [String] = []
        defer { for root in roots { try? FileManager.default.removeItem(atPath: root) } }
        var checked = Set<String>()
        var jobs: [StrictStandin.Job] = [], labels: [String] = []
        for (host, specs) in services.sorted(by: { $0.key < $1.key }) {
            let root = try StrictStandin.materialize(files[host] ?? [])
            roots.append(root)
            for spec in specs {
                let unit = String(decoding: spec.unitFile.content, as: UTF8.self)
                let exec = try #require(StrictStandin.execStart(unit), "\(name)/\(host)/\(spec.unit) has no ExecStart")
                guard exec.binary.hasPrefix("kube") else { continue }  // containerd is real
                for version in StrictStandin.minors {
                    jobs.append(StrictStandin.Job(binary: exec.binary, version: version, root: root, arguments: exec.arguments))
                    labels.append("\(name): \(host) \(spec.unit) for \(version)")
                }
                checked.insert(exec.binary)
            }
        }
        for (label, result) in zip(labels, try StrictStandin.checkAll(jobs)) {
            #expect(result.status == 0, "\(label) refused: \(result.stderr)")
        }
        let expected: Set<String> = inventory.isSelfManaged
            ? ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"] : ["kubelet"]
        #expect(checked == expected, "\(name): checked \(checked.sorted())")
    }
}

@Suite("the strict stand-in refuses what the real binaries refuse", .tags(.unit))
struct StrictStandinRefusalTests {
    /// The rendered API server unit of the control-plane fixture, with its audit policy under a scratch root.
    static func apiServer() throws -> (arguments: [String], root: String) {
        let context = ControlPlaneContext(
            clusterName: "lab", nodeName: "h1", advertiseAddress: "10.213.0.11", etcdServers: ["https://10.213.0.11:2379"],
            serviceCIDR: "10.96.0.0/12", podCIDR: "10.244.0.0/16", clusterDomain: "cluster.local",
            apiServerFlags: ComponentFlags.merged(.apiServer, extraArgs: [:]))
        let renderer = TemplateRenderer()
        let unit = try renderer.render("kubernetes/kube-apiserver.service", context: context)
        let audit = ManagedFile(path: context.auditPolicyFile, text: try renderer.render("kubernetes/audit-policy.yaml", context: context))
        let encryption = try SecretsEncryption.initial(now: Date()).file(clusterName: "lab", renderer: renderer)
        let exec = try #require(StrictStandin.execStart(unit))
        return (exec.arguments, try StrictStandin.materialize([audit, encryption]))
    }

    static func expectRefusal(_ binary: String, _ version: String, root: String = "", _ arguments: [String], saying words: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try StrictStandin.check(binary, version, root: root, arguments)
        #expect(result.status == 1, "\(arguments.last ?? "") was accepted", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(words), "expected “\(words)” in: \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("the rendered API server unit passes as it is, so each refusal below is the planted mistake's")
    func baseline() throws {
        let (arguments, root) = try Self.apiServer()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for version in StrictStandin.minors {
            let result = try StrictStandin.check("kube-apiserver", version, root: root, arguments)
            #expect(result.status == 0, "\(version): \(result.stderr)")
        }
    }

    @Test("an unknown flag, a flag of another minor and a single-dash long flag are refused as pflag refuses them")
    func unknownFlags() throws {
        let (arguments, root) = try Self.apiServer()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.expectRefusal("kube-apiserver", "1.31.0", root: root, arguments + ["--enable-admision-plugins=NodeRestriction"],
                               saying: "unknown flag: --enable-admision-plugins")
        // --emulated-version arrived in 1.31, --requestheader-uid-headers in 1.32 (k8s.io/apiserver v0.31.0, v0.32.0).
        try Self.expectRefusal("kube-apiserver", "1.30.0", root: root, arguments + ["--emulated-version=1.30"], saying: "unknown flag: --emulated-version")
        try Self.expectRefusal("kube-apiserver", "1.31.0", root: root, arguments + ["--requestheader-uid-headers=X-Remote-Uid"],
                               saying: "unknown flag: --requestheader-uid-headers")
        #expect(try StrictStandin.check("kube-apiserver", "1.32.0", root: root, arguments + ["--requestheader-uid-headers=X-Remote-Uid"]).status == 0)
        try Self.expectRefusal("kube-scheduler", "1.32.0", ["-kubeconfig=/etc/kubernetes/scheduler.conf"], saying: "unknown shorthand flag: 'k' in -kubeconfig")
        try Self.expectRefusal("kubelet", "1.29.0", ["--node-ip", "10.0.0.1", "extra"], saying: "does not take any arguments")
        try Self.expectRefusal("kubelet", "1.29.0", ["--kubeconfig"], saying: "flag needs an argument: --kubeconfig")
    }

    @Test("malformed typed values and unsupported enumeration values are refused")
    func badValues() throws {
        let cases: [(String, String, String)] = [
            ("kube-apiserver", "--secure-port=64k", "strconv.ParseInt: parsing \"64k\": invalid syntax"),
            ("kube-apiserver", "--profiling=yes", "strconv.ParseBool: parsing \"yes\": invalid syntax"),
            ("kube-apiserver", "--advertise-address=10.213.0.300", "is not a valid IP address"),
            ("kube-apiserver", "--event-ttl=1d", "time: invalid duration \"1d\""),
            ("kube-apiserver", "--authorization-mode=Node,RBAC,Magic", "--authorization-mode: unsupported value \"Magic\""),
            ("kube-apiserver", "--authorization-mode=Node,RBAC,Node", "\"Node\" is specified more than once"),
            ("kube-apiserver", "--enable-admission-plugins=NodeRestriction,PodSecurityPolicy", "unsupported value \"PodSecurityPolicy\""),
            ("kube-apiserver", "--kubelet-preferred-address-types=InternalIP,Internal", "unsupported value \"Internal\""),
            ("kube-apiserver", "--service-cluster-ip-range=10.96.0.0/33", "not a valid CIDR"),
            ("kube-apiserver", "--feature-gates=SomeGate=maybe", "invalid value of SomeGate=maybe"),
            ("kube-controller-manager", "--leader-elect-lease-duration=15", "time: invalid duration \"15\""),
            ("kubelet", "--register-with-taints=dedicated=infra:NoSchedul", "unsupported value \"NoSchedul\""),
            ("kubelet", "--node-ip=10.0.0.1,fd00::1,10.0.0.2", "at most 2 values"),
            ("kube-proxy", "--proxy-mode=userspace", "unsupported value \"userspace\""),
        ]
        let results = try StrictStandin.checkAll(cases.map { StrictStandin.Job(binary: $0.0, version: "1.31.0", arguments: [$0.1]) })
        for ((_, flag, words), result) in zip(cases, results) {
            #expect(result.status == 1, "\(flag) was accepted")
            #expect(result.stderr.contains(words), "expected “\(words)” in: \(result.stderr)")
        }
    }

    @Test("every spelling pflag accepts is accepted; deprecated flags warn on stderr")
    func spellings() throws {
        let accepted: [[String]] = [
            ["--secure-port=6443"], ["--secure-port", "6443"], ["-v=2"], ["-v", "2"], ["-v2"], ["--profiling"],
            ["--profiling=false"], ["--etcd_servers=https://10.0.0.1:2379"], ["--secure-port=0x192b"], ["-h"],
            ["--audit-log-maxage=30", "--", ""], ["--authorization-mode=Node,RBAC", "--authorization-mode=Webhook"],
        ]
        let results = try StrictStandin.checkAll(accepted.map { StrictStandin.Job(binary: "kube-apiserver", version: "1.30.0", arguments: $0) })
        for (arguments, result) in zip(accepted, results) {
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        let deprecated = try StrictStandin.check("kubelet", "1.30.0", ["--cgroup-driver=systemd"])
        #expect(deprecated.status == 0)
        #expect(deprecated.stderr.contains("Flag --cgroup-driver has been deprecated, This parameter should be set via the config file"))
        let kept = try StrictStandin.check("kubelet", "1.30.0", ["--hostname-override=h1", "-v=4"])
        #expect(kept.status == 0 && !kept.stderr.contains("deprecated"), "\(kept.stderr)")
    }

    /// Writes `text` as the only file of a scratch root and checks it as `kind`.
    static func checkFile(_ kind: String, _ text: String, version: String = "1.31.0") throws -> StrictStandin.Result {
        let root = try StrictStandin.materialize([ManagedFile(path: "/planted.yaml", text: text)])
        defer { try? FileManager.default.removeItem(atPath: root) }
        return try StrictStandin.run(["check-file", version, kind, root + "/planted.yaml"])
    }

    @Test("misspelt fields, wrong types and wrong apiVersions in configuration files are refused")
    func configFiles() throws {
        let kubelet = try TemplateRenderer().render("kubernetes/kubelet-config.yaml", context: KubeletContext(
            clusterName: "lab", nodeName: "h3", nodeIP: "10.213.0.13", clusterDNS: "10.96.0.10", clusterDomain: "cluster.local"))
        #expect(try Self.checkFile("KubeletConfiguration", kubelet).status == 0)
        let planted: [(String, String, String, String)] = [
            ("KubeletConfiguration", "cgroupDriver: systemd", "cgroupDrivr: systemd", "strict decoding error: unknown field \"cgroupDrivr\""),
            ("KubeletConfiguration", "healthzPort: 10248", "healthzPort: \"10248\"", "cannot unmarshal string into healthzPort of type int"),
            ("KubeletConfiguration", "  - 10.96.0.10", "  - [10.96.0.10]", "cannot unmarshal array into clusterDNS[0] of type string"),
            ("KubeletConfiguration", "    enabled: false", "    enabled: false\n    enable: true", "unknown field \"authentication.anonymous.enable\""),
            ("KubeletConfiguration", "apiVersion: kubelet.config.k8s.io/v1beta1", "apiVersion: kubelet.config.k8s.io/v1",
             "no kind \"KubeletConfiguration\" is registered for version \"kubelet.config.k8s.io/v1\""),
            ("KubeletConfiguration", "rotateCertificates: true", "rotateCertificates: true\nrotateCertificates: false", "already defined"),
        ]
        for (kind, original, replacement, words) in planted {
            #expect(kubelet.contains(original))
            let result = try Self.checkFile(kind, kubelet.replacingOccurrences(of: original, with: replacement))
            #expect(result.status == 1 && result.stderr.contains(words), "\(replacement): \(result.stderr)")
        }
        let proxy = try TemplateRenderer().render("kubernetes/kube-proxy-config.yaml",
                                                  context: KubeProxyContext(clusterName: "lab", nodeName: "h3", podCIDR: "10.244.0.0/16"))
        let misspelt = try Self.checkFile("KubeProxyConfiguration", proxy.replacingOccurrences(of: "maxPerCore", with: "maxPerCPU"))
        #expect(misspelt.status == 1 && misspelt.stderr.contains("unknown field \"conntrack.maxPerCPU\""), "\(misspelt.stderr)")
        let kubeconfig = try Self.checkFile("Config", "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\ncurrent-context: missing\nusers: []\n")
        #expect(kubeconfig.status == 1 && kubeconfig.stderr.contains("context was not found for specified context: missing"))
    }

    @Test("bad audit rules are refused as the API server's policy validation refuses them")
    func auditRules() throws {
        let policy = try TemplateRenderer().render("kubernetes/audit-policy.yaml", context: ControlPlaneContext(
            clusterName: "lab", nodeName: "h1", advertiseAddress: "10.213.0.11", etcdServers: ["https://10.213.0.11:2379"],
            serviceCIDR: "10.96.0.0/12", podCIDR: "10.244.0.0/16", clusterDomain: "cluster.local"))
        #expect(try Self.checkFile("Policy", policy).status == 0)
        let planted: [(String, String, String)] = [
            ("  - level: RequestResponse", "  - level: Everything", "level: Unsupported value: \"Everything\""),
            ("      - /version", "      - version", "non-resource URL rules must begin with a '/' character"),
            ("      - /healthz*", "      - /health*z", "wildcards '*' must be the final character"),
            ("    verbs: [\"watch\"]", "    verbs: [\"watch\"]\n    nonResourceURLs: [\"/metrics\"]\n    namespaces: [\"kube-system\"]",
             "rules cannot apply to both regular resources and non-resource URLs"),
            ("  - RequestReceived", "  - RequestRecieved", "allowed stages are"),
            ("    users: [\"system:kube-proxy\"]", "    user: [\"system:kube-proxy\"]", "unknown field \"rules[1].user\""),
            ("apiVersion: audit.k8s.io/v1", "apiVersion: audit.k8s.io/v1beta1", "no kind \"Policy\" is registered for version \"audit.k8s.io/v1beta1\""),
        ]
        try Self.expectRefusals("Policy", policy, planted)
    }

    /// Each (original, replacement, words): `text` with the original replaced is refused as `kind`, saying the words.
    static func expectRefusals(_ kind: String, _ text: String, _ planted: [(String, String, String)]) throws {
        for (original, replacement, words) in planted {
            #expect(text.contains(original), "the rendered \(kind) no longer has \(original)")
            let result = try checkFile(kind, text.replacingOccurrences(of: original, with: replacement))
            #expect(result.status == 1 && result.stderr.contains(words), "\(replacement): \(result.stderr)")
        }
    }

    @Test("each flag table names the repository, ref and path of every flag's definition")
    func provenance() throws {
        for binary in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"] {
            for version in StrictStandin.minors {
                let minor = version.split(separator: ".").prefix(2).joined(separator: ".")
                let url = StrictStandin.repository.appendingPathComponent("Sources/Inventory/KubernetesFlags/\(binary)-\(minor).json")
                let table = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
                let sources = try #require(table["sources"] as? [[String: Any]])
                let flags = try #require(table["flags"] as? [String: [String: Any]])
                #expect(flags.count > 40, "\(binary) \(minor) has only \(flags.count) flags")
                for (name, flag) in flags {
                    let index = try #require(flag["source"] as? Int, "\(binary) \(minor) --\(name) names no source")
                    let source = sources[index]
                    #expect(source["repository"] is String && source["path"] is String, "\(binary) \(minor) --\(name)")
                    if source["tagPinned"] as? Bool == true {
                        #expect((source["ref"] as? String)?.hasSuffix(".\(minor.split(separator: ".")[1]).0") == true,
                                "\(binary) \(minor) --\(name) read at \(source["ref"] ?? "nothing")")
                    }
                }
            }
        }
    }
}
