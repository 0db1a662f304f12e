import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

/// A test double of one Kubernetes node as a certificate rotation sees it: its PKI files, its installed
/// units and what each unit loaded when it last started. It answers exactly the commands a rotation sends
/// (which units are installed, whether a unit started before one of its files changed, the `.prev` copy
/// and restore, `systemctl restart`, the health probes, the certificate an API server or etcd serves, a
/// kubeconfig's handshake, the journal), and passes etcd's own commands to an `EtcdClusterModel` on an etcd
/// member; any other command fails the test. A unit is healthy when it runs, none of the files it loaded is
/// one the test marked broken, and it was not told to fail its next start; a unit restarted while one of
/// its files still differs from what the state has (a restart before the push) is flagged.
final class NodeModel: HostModel, @unchecked Sendable {
    struct Unit {
        var running = true
        /// The contents of the files it read, as they were when it last started.
        var loaded: [String: Data] = [:]
        /// Started before one of its files last changed (a run killed between the push and the restart).
        var stale = false
        /// Started, but does not come up healthy.
        var failed = false
    }

    private let lock = NSLock()
    let name: String
    private var files: [String: Data]
    private var units: [String: Unit]
    private var events: [String] = []
    private var violations: [String] = []
    private var broken: Set<Data> = []
    /// What the state holds now for this host, by remote path (read again at each restart: a CA rotation
    /// changes the state between its phases).
    private let target: @Sendable () -> [String: Data]
    /// The files were just restored from `.prev` (a rollback): the next restarts use the previous files.
    private var restored = false
    private var failNext: Set<String> = []
    private let etcdMember: Bool
    private let etcd: EtcdClusterModel?
    private var probeCount = 0

    /// `files`: what the host holds; `target`: what the state holds (a restart before these are on the host
    /// is flagged); `units`: the installed units, each started with the files as they are now; `etcd`: the
    /// cluster this host is a member of.
    init(name: String, files: [String: Data], target: @escaping @Sendable () -> [String: Data], units: [CertConsumer], etcd: EtcdClusterModel? = nil) {
        self.name = name
        self.files = files
        self.target = target
        self.etcd = etcd
        etcdMember = etcd != nil
        var installed: [String: Unit] = [:]
        for unit in units {
            installed[unit.unit] = Unit(loaded: files.filter { CertConsumer.consumers(of: $0.key, etcdMember: etcd != nil).contains(unit) })
        }
        self.units = installed
    }

    var log: [String] { lock.withLock { events } }
    var problems: [String] { lock.withLock { violations } }
    /// Health probes answered so far.
    var probes: Int { lock.withLock { probeCount } }
    func file(_ path: String) -> Data? { lock.withLock { files[path] } }
    /// A file with `content` makes the units that load it unhealthy (a certificate their peer refuses).
    func breaks(_ content: Data) { lock.withLock { _ = broken.insert(content) } }
    func markStale(_ unit: CertConsumer) { lock.withLock { units[unit.unit]?.stale = true } }
    /// `unit`'s next start does not come up healthy (the one after does).
    func failNextStart(_ unit: CertConsumer) { lock.withLock { _ = failNext.insert(unit.unit) } }
    func healthy(_ unit: CertConsumer) -> Bool { lock.withLock { healthyLocked(unit.unit) } }

    private func healthyLocked(_ unit: String) -> Bool {
        guard let state = units[unit], state.running, !state.failed else { return false }
        return !state.loaded.values.contains { broken.contains($0) }
    }

    private func ok(_ text: String = "") -> CommandResult { CommandResult(exitStatus: 0, stdout: Data(text.utf8), stderr: Data()) }

    /// The arguments after the script of `sh -c SCRIPT sh ARGS…`, unquoted (paths and unit names here
    /// hold no spaces).
    private static func trailingArguments(_ line: String) -> [String] {
        guard let script = line.range(of: "' sh ", options: .backwards) else { return [] }
        return line[script.upperBound...].split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
    }

    func answer(_ host: String, _ line: String) -> CommandResult {
        lock.withLock { answerLocked(line) }
    }

    private func answerLocked(_ line: String) -> CommandResult {
        let words = line.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        if line.contains("@@members") || words.first?.hasSuffix("etcdctl") == true {
            guard let etcd else {
                violations.append("etcd command on \(name), which is not an etcd member: \(line)")
                return CommandResult(exitStatus: 127, stdout: Data(), stderr: Data("etcdctl: not found".utf8))
            }
            return etcd.answer(name, line)
        }
        if line.contains("openssl s_client") {
            let arguments = Self.trailingArguments(line)
            let served: (unit: String, file: String)? = switch arguments.dropFirst().first {
            case "6443": ("kube-apiserver.service", PKIManager.remotePKIDirectory + "/apiserver.crt")
            case "2379": ("etcd.service", PKIManager.remotePKIDirectory + "/etcd/server.crt")
            default: nil
            }
            guard let served, healthyLocked(served.unit), let pem = units[served.unit]?.loaded[served.file] else { return ok() }
            return ok(String(decoding: pem, as: UTF8.self))
        }
        if line.contains("certificate-authority-data") {
            let kubeconfig = Self.trailingArguments(line).first ?? ""
            let unit = kubeconfig.hasSuffix("/scheduler.conf") ? "kube-scheduler.service" : "kube-controller-manager.service"
            return healthyLocked(unit) ? ok() : CommandResult(exitStatus: 35, stdout: Data(), stderr: Data("curl: (35) handshake refused".utf8))
        }
        if words.first == "curl", words.contains("--cacert"), let url = words.last, url.hasSuffix("/livez") || url.hasSuffix("/readyz") {
            probeCount += 1
            return healthyLocked("kube-apiserver.service") ? ok("ok") : CommandResult(exitStatus: 7, stdout: Data(), stderr: Data("curl: (7) Failed to connect".utf8))
        }
        if line.contains("/etc/systemd/system/$u") {
            return ok(Self.trailingArguments(line).filter { units[$0] != nil }.map { $0 + "\n" }.joined())
        }
        if line.contains("ActiveEnterTimestamp") {
            let arguments = Self.trailingArguments(line)
            guard let unit = arguments.first, let state = units[unit] else { return ok() }
            return ok(state.stale ? arguments.dropFirst().first.map { $0 + "\n" } ?? "" : "")
        }
        if line.contains(#"cp -p -- "$1" "$1.prev""#) {
            restored = false
            for path in Self.trailingArguments(line) {
                if let current = files[path] { files[path + ".prev"] = current }
                events.append("save \(path)")
            }
            return ok()
        }
        if line.contains(#"cp -p -- "$f.prev" "$f""#) {
            restored = true
            for path in Self.trailingArguments(line) {
                if let previous = files[path + ".prev"] { files[path] = previous }
                events.append("restore \(path)")
            }
            return ok()
        }
        if words.starts(with: ["systemctl", "restart"]), words.count == 3 {
            let unit = words[2]
            guard units[unit] != nil, let consumer = CertConsumer.allCases.first(where: { $0.unit == unit }) else {
                violations.append("restart of \(unit), which is not installed on \(name)")
                return CommandResult(exitStatus: 5, stdout: Data(), stderr: Data("Unit \(unit) not found.".utf8))
            }
            let reads = files.filter { CertConsumer.consumers(of: $0.key, etcdMember: etcdMember).contains(consumer) }
            // A rollback restarts with the files from .prev, so only a forward restart is held to the state's.
            if !restored {
                let state = target()
                for (path, content) in reads where state[path].map({ $0 != content }) == true {
                    violations.append("\(unit) restarted while \(path) still differs from the state")
                }
            }
            units[unit] = Unit(running: true, loaded: reads, stale: false, failed: failNext.remove(unit) != nil)
            events.append("restart \(unit)")
            return ok()
        }
        if words.starts(with: ["systemctl", "is-active", "--quiet"]), words.count == 4 {
            return CommandResult(exitStatus: units[words[3]]?.running == true ? 0 : 3, stdout: Data(), stderr: Data())
        }
        if words.first == "curl", let url = words.last, let probe = CertConsumer.allCases.compactMap(CertRotation.healthProbe).first(where: { $0.url == url }) {
            probeCount += 1
            return healthyLocked(probe.unit) ? ok("ok") : CommandResult(exitStatus: 22, stdout: Data(), stderr: Data("curl: (22) The requested URL returned error: 500".utf8))
        }
        if words.first == "journalctl" { return ok("(journal)") }
        violations.append("unscripted command on \(name): \(line)")
        return CommandResult(exitStatus: 127, stdout: Data(), stderr: Data("not scripted".utf8))
    }

    func read(_ host: String, _ path: String) -> Data? { file(path) }

    func write(_ host: String, _ data: Data, to path: String) {
        lock.withLock {
            files[path] = data
            restored = false
            events.append("write \(path)")
        }
    }
}

/// The PKI files `host` receives, by remote path, as the state holds them now: an etcd member's etcd files
/// as the etcd workflow installs them, and the rest as `PKIManager.hostFiles` places them.
func statePKIFiles(of host: String, _ settings: EtcdWorkflowSettings) throws -> [String: Data] {
    var files: [String: Data] = [:]
    if settings.spec.member(host) != nil {
        for file in try EtcdWorkflow.certificateFiles(for: host, settings).compactMap(\.managed) { files[file.path] = file.content }
    }
    guard let spec = settings.inventory.hosts.first(where: { $0.name == host }) else { return files }
    for file in PKIManager.hostFiles(for: spec, required: try CertificateCatalog.required(for: settings.inventory), inventory: settings.inventory)
    where files[file.remotePath] == nil {
        files[file.remotePath] = try settings.state.read(file.statePath)
    }
    return files
}

@Suite("certificate roll-out on one node against a model of its files and units (every command scripted, any other fails)", .tags(.unit))
struct CertRotationTests {
    static let worker = "h3"
    static let kubeletConf = PKIManager.remoteKubeconfigDirectory + "/kubelet.conf"

    struct Run {
        let model: NodeModel
        let settings: EtcdWorkflowSettings
        let ctx: WorkflowContext
        let output: CollectingOutput
        /// What the state holds for the worker, by remote path.
        let target: [String: Data]
    }

    /// A PKI state for the fixture cluster, and its worker holding the state's files except `differing`
    /// (those hold older bytes), with the kubelet and kube-proxy installed.
    func run(_ base: String, mode: WorkflowMode = .apply, differing: [String] = [], healthTimeout: Double = 1) async throws -> Run {
        let inventory = Fixture.inventory()
        var settings = try EtcdWorkflowSettings(inventory: inventory, artifacts: ArtifactStore(origin: .localDirectory(base), cacheDirectory: base),
                                                healthTimeoutSeconds: healthTimeout)
        settings.state = StateDirectory(root: base + "/state")
        try await PKIPhase.create(PKIManager(inventory: inventory, state: settings.state), now: Date())
        let host = try #require(inventory.hosts.first { $0.name == Self.worker })
        let target = try statePKIFiles(of: host.name, settings)
        #expect(target[Self.kubeletConf] != nil && target.count >= 3, "the worker receives its kubeconfigs and the CA: \(target.keys.sorted())")
        var files = target
        for path in differing { files[path] = Data("an older \(path)\n".utf8) }
        let model = NodeModel(name: Self.worker, files: files, target: { [target] in target }, units: [.kubelet, .kubeProxy])
        let output = CollectingOutput()
        let ctx = WorkflowContext(mode: mode, connector: ModelConnector { $0 == model.name ? model : nil },
                                  endpoints: [HostEndpoint(name: Self.worker, address: "10.213.0.13", authentication: [.agent], knownHostsFile: "/dev/null")],
                                  output: output, now: { Date() })
        return Run(model: model, settings: settings, ctx: ctx, output: output, target: target)
    }

    /// `body` on a fresh run in a scratch directory that is removed afterwards.
    func with(mode: WorkflowMode = .apply, differing: [String] = [], _ body: (Run) async throws -> Void) async throws {
        let base = NSTemporaryDirectory() + "capstan-rotation-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let r = try await run(base, mode: mode, differing: differing)
        try await body(r)
        #expect(r.model.problems.isEmpty, "\(r.model.problems)")
    }

    @Test("a changed kubelet kubeconfig: the previous file is kept as .prev, the new one written, then the kubelet alone restarts and is gated on its /healthz")
    func changedFileRestartsItsReader() async throws {
        try await with(differing: [Self.kubeletConf]) { r in
            let rolled = try await CertRotation.roll(Self.worker, restartFor: nil, r.ctx, r.settings)
            #expect(rolled)
            #expect(r.model.log == ["save \(Self.kubeletConf)", "write \(Self.kubeletConf)", "restart kubelet.service"])
            #expect(r.model.file(Self.kubeletConf) == r.target[Self.kubeletConf])
            #expect(r.model.file(Self.kubeletConf + ".prev") == Data("an older \(Self.kubeletConf)\n".utf8))
            #expect(r.model.healthy(.kubelet) && r.model.probes >= 1, "the restart was gated on the kubelet's health")
        }
    }

    @Test("a node already on the state's files: nothing is written or restarted, and it is reported up to date")
    func upToDateNodeIsLeftAlone() async throws {
        try await with { r in
            let rolled = try await CertRotation.roll(Self.worker, restartFor: nil, r.ctx, r.settings)
            #expect(!rolled)
            #expect(r.model.log.isEmpty)
            #expect(r.output.events.contains { $0.kind == .hostStatus && $0.message == "certificates up to date" })
        }
    }

    @Test("a new kubeconfig the kubelet cannot use: the gate fails within its timeout, the .prev file comes back, the kubelet restarts with it, and the error names the host and what was restored")
    func unhealthyAfterRestartRollsBack() async throws {
        try await with(differing: [Self.kubeletConf]) { r in
            r.model.breaks(try #require(r.target[Self.kubeletConf]))
            do {
                try await CertRotation.roll(Self.worker, restartFor: nil, r.ctx, r.settings)
                Issue.record("a host whose kubelet stays unhealthy must fail the roll-out")
            } catch let error as WorkflowError {
                guard case let .hostFailed(host, what, reason, _) = error else { Issue.record("expected hostFailed, got \(error)"); return }
                #expect(host == Self.worker && what == "rotate certificates")
                #expect(reason.contains("127.0.0.1:10248/healthz did not answer 200"), "the gate's evidence is kept: \(reason)")
                #expect(reason.contains("restored from .prev") && reason.contains("kubelet.service restarted with them"), "\(reason)")
            }
            #expect(r.model.log == ["save \(Self.kubeletConf)", "write \(Self.kubeletConf)", "restart kubelet.service",
                                    "restore \(Self.kubeletConf)", "restart kubelet.service"])
            #expect(r.model.file(Self.kubeletConf) == Data("an older \(Self.kubeletConf)\n".utf8), "the previous file is back")
            #expect(r.model.healthy(.kubelet), "the kubelet runs again on the previous file")
        }
    }

    @Test("a CA phase restarts every service reading a file of that CA even when the files are equal (the bundle it loaded must be reloaded), in restart order")
    func caPhaseRestartsItsReaders() async throws {
        try await with { r in
            let rolled = try await CertRotation.roll(Self.worker, restartFor: .cluster, r.ctx, r.settings)
            #expect(rolled)
            #expect(r.model.log == ["restart kubelet.service", "restart kube-proxy.service"])
            let front = try await CertRotation.roll(Self.worker, restartFor: .frontProxy, r.ctx, r.settings)
            #expect(!front, "no file of the worker belongs to the front-proxy CA")
            #expect(r.model.log.count == 2)
        }
    }

    @Test("a service that started before its file last changed (a run killed between the push and the restart) restarts though the files are equal")
    func staleServiceRestarts() async throws {
        try await with { r in
            r.model.markStale(.kubeProxy)
            let rolled = try await CertRotation.roll(Self.worker, restartFor: nil, r.ctx, r.settings)
            #expect(rolled)
            #expect(r.model.log == ["restart kube-proxy.service"])
        }
    }

    @Test("in plan mode the push and the restart are recorded as the run's actions and nothing is written or restarted")
    func planRecordsAndChangesNothing() async throws {
        try await with(mode: .plan, differing: [Self.kubeletConf]) { r in
            try await CertRotation.roll(Self.worker, restartFor: nil, r.ctx, r.settings)
            #expect(r.model.log.isEmpty)
            #expect(r.model.file(Self.kubeletConf) == Data("an older \(Self.kubeletConf)\n".utf8))
            let actions = await r.ctx.actions
            #expect(actions.map(\.host) == [Self.worker, Self.worker])
            #expect(actions.map(\.description) == ["push \(Self.kubeletConf) (previous kept as \(Self.kubeletConf).prev)", "systemctl restart kubelet (certificates)"])
            #expect(r.model.probes == 0, "the health gate is a no-op in plan mode")
        }
    }
}

@Suite("a CA rotation through its phases on a control-plane host and a worker (models of both and of etcd, every command scripted)", .tags(.unit))
struct CARotationPhaseTests {
    static let addresses = ["h1": "10.213.0.11", "h3": "10.213.0.13"]
    static let frontProxyCA = PKIManager.remotePKIDirectory + "/front-proxy-ca.crt"
    static let frontProxyClient = PKIManager.remotePKIDirectory + "/front-proxy-client.crt"
    static let restartsPerPhase = ["restart kube-apiserver.service", "restart kube-controller-manager.service"]

    struct Run {
        let cp: NodeModel
        let worker: NodeModel
        let etcd: EtcdClusterModel
        let settings: EtcdWorkflowSettings
        let manager: PKIManager
        let ctx: WorkflowContext
        let output: CollectingOutput
        /// h1's PKI files before the rotation.
        let before: [String: Data]
        var problems: [String] { cp.problems + worker.problems + etcd.problems }
        func now(_ path: String) throws -> Data? { try statePKIFiles(of: "h1", settings)[path] }
    }

    /// h1 (control plane, the one etcd member) and h3 (worker), on the state's files, every unit installed.
    func with(_ body: (Run) async throws -> Void) async throws {
        let base = NSTemporaryDirectory() + "capstan-ca-rotation-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Inventory(
            name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4), controlPlane: ControlPlaneSpec(endpoint: nil, loadBalancer: .external),
            hosts: [HostSpec(name: "h1", address: Self.addresses["h1"]!, roles: [.controlPlane, .etcd]),
                    HostSpec(name: "h3", address: Self.addresses["h3"]!, roles: [.worker])])
        var settings = try EtcdWorkflowSettings(inventory: inventory, artifacts: ArtifactStore(origin: .localDirectory(base), cacheDirectory: base),
                                                healthTimeoutSeconds: 1)
        settings.state = StateDirectory(root: base + "/state")
        let manager = PKIManager(inventory: inventory, state: settings.state)
        try await PKIPhase.create(manager, now: Date())
        let etcd = EtcdClusterModel(addresses: Self.addresses, running: ["h1"], leader: "h1")
        let live = settings
        let before = try statePKIFiles(of: "h1", settings)
        let cp = NodeModel(name: "h1", files: before, target: { (try? statePKIFiles(of: "h1", live)) ?? [:] },
                           units: [.etcd, .apiServer, .controllerManager, .scheduler, .kubelet, .kubeProxy], etcd: etcd)
        let worker = NodeModel(name: "h3", files: try statePKIFiles(of: "h3", settings), target: { (try? statePKIFiles(of: "h3", live)) ?? [:] },
                               units: [.kubelet, .kubeProxy])
        #expect(before[Self.frontProxyCA] != nil && before[Self.frontProxyClient] != nil, "h1 holds the front-proxy files: \(before.keys.sorted())")
        let output = CollectingOutput()
        let ctx = WorkflowContext(mode: .apply, connector: ModelConnector { [cp, worker] name in [cp, worker].first { $0.name == name } },
                                  endpoints: Self.addresses.map { HostEndpoint(name: $0.key, address: $0.value, authentication: [.agent], knownHostsFile: "/dev/null") },
                                  output: output, now: { Date() })
        let r = Run(cp: cp, worker: worker, etcd: etcd, settings: settings, manager: manager, ctx: ctx, output: output, before: before)
        try await body(r)
        #expect(r.problems.isEmpty, "\(r.problems)")
    }

    @Test("trust, leaves, untrust: in each phase h1 gets its front-proxy files and restarts the API server and the controller manager, gated; the worker, which holds no file of that CA, is left alone; at the end h1 trusts only the new CA and the record is gone")
    func frontProxyThroughThePhases() async throws {
        try await with { r in
            let record = try await CertRotation.rotateCA(.frontProxy, manager: r.manager, stopAfter: nil, r.ctx, r.settings)
            #expect(record == nil)
            #expect(try r.manager.loadRotation() == nil)
            #expect(r.cp.log.filter { $0.hasPrefix("restart ") } == Self.restartsPerPhase + Self.restartsPerPhase + Self.restartsPerPhase)
            #expect(r.worker.log.isEmpty)
            let bundle = try #require(r.cp.file(Self.frontProxyCA))
            #expect(bundle == (try r.now(Self.frontProxyCA)) && bundle != r.before[Self.frontProxyCA])
            #expect(String(decoding: bundle, as: UTF8.self).components(separatedBy: "BEGIN CERTIFICATE").count == 2, "one CA left in the bundle")
            #expect(r.cp.file(Self.frontProxyClient) == (try r.now(Self.frontProxyClient)) && r.cp.file(Self.frontProxyClient) != r.before[Self.frontProxyClient],
                    "the client certificate was re-issued by the new CA")
            #expect(r.cp.healthy(.apiServer) && r.cp.healthy(.controllerManager))
        }
    }

    @Test("an API server that fails with the re-issued leaves: h1's previous files come back, the record stays at leaves with the worker done, and the next run resumes there and finishes")
    func failedLeavesResume() async throws {
        try await with { r in
            let trusted = try await CertRotation.rotateCA(.frontProxy, manager: r.manager, stopAfter: .trust, r.ctx, r.settings)
            #expect(trusted?.phase == .trust && trusted?.doneHosts == ["h3", "h1"])
            r.cp.failNextStart(.apiServer)
            do {
                _ = try await CertRotation.rotateCA(.frontProxy, manager: r.manager, stopAfter: nil, r.ctx, r.settings)
                Issue.record("an API server that does not come back must stop the rotation")
            } catch let error as WorkflowError {
                guard case let .hostFailed(host, what, reason, _) = error else { Issue.record("expected hostFailed, got \(error)"); return }
                #expect(host == "h1" && what == "rotate certificates")
                #expect(reason.contains("restored from .prev"), "\(reason)")
            }
            let stopped = try #require(try r.manager.loadRotation())
            #expect(stopped.phase == .leaves && stopped.doneHosts == ["h3"])
            #expect(r.cp.file(Self.frontProxyClient) == r.before[Self.frontProxyClient], "h1 runs on its previous client certificate")
            #expect(r.cp.healthy(.apiServer), "the API server is back on the previous files")

            let record = try await CertRotation.rotateCA(.frontProxy, manager: r.manager, stopAfter: nil, r.ctx, r.settings)
            #expect(record == nil)
            #expect(try r.manager.loadRotation() == nil)
            #expect(r.output.events.contains { $0.message.contains("rotation at phase leaves (done there: h3)") }, "the second run resumed at leaves")
            #expect(r.cp.file(Self.frontProxyClient) == (try r.now(Self.frontProxyClient)))
            #expect(r.worker.log.isEmpty)
        }
    }
}

