import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The whole cluster: SSH reachability, etcd, every Capstan service, API readiness, kubelets, certificate expiry, backups, balancers, pod network.",
        discussion: HelpExamples.discussion("status", """
            Per host: whether it answers over SSH (the reason when not), its etcd member (version, DB size, raft \
            index, health), the cluster identity, the state of every unit Capstan installed there, the API \
            server's /readyz on control-plane hosts, the kubelet's /healthz on nodes, the soonest-expiring \
            certificate file, and on etcd members the backup timer's last success. For the cluster: the newest \
            backup in the store and its age, the API balancers and the pod network. The last line is the verdict.
            Exit status: 0 healthy; 1 when a host does not answer, etcd is unhealthy, a unit is not active (a \
            timer's service: failed), an API server is not ready, a kubelet does not answer, a certificate has \
            expired, or a host belongs to another cluster. --watch N redraws every N seconds until interrupted.
            """))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Option(name: .long, help: ArgumentHelp("Redraw every N seconds until interrupted (JSON: one document per round).", valueName: "seconds"))
    var watch: Double?

    func validate() throws {
        if let watch, watch < 1 { throw ValidationError("--watch takes at least 1 second") }
    }

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        guard let watch else {
            if try await round(inventory) == false { throw ExitCode(1) }
            return
        }
        // On a terminal each round replaces the screen (home, clear); otherwise rounds follow each other.
        let terminal = isatty(STDOUT_FILENO) == 1 && outputOption.output == .text
        while true {
            let started = Date()
            if terminal { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            _ = try await round(inventory)
            print(outputOption.output == .json ? "" : "(status at \(CompactTime.string(started)), every \(Int(watch)) s; Ctrl-C ends)")
            fflush(nil)
            try await Task.sleep(for: .seconds(max(0, watch - Date().timeIntervalSince(started))))
        }
    }

    /// One reading of the cluster, printed; true when healthy.
    func round(_ inventory: Inventory) async throws -> Bool {
        let state = StateDirectory(inventory: inventory)
        let names = inventory.hosts.map(\.name)
        let reading = try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: .plan, output: CollectingOutput()) { context in
                try await ClusterReading.read(inventory: inventory, state: state, names: names, in: context)
            }
        }
        let backup = await BackupReading.read(inventory)
        let verdict = reading.verdict(cluster: inventory.name)
        switch outputOption.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            // The etcd report's keys stay at the top (absent for a managed cluster); the rest join them, each under one key.
            var document: [String: Any] = [:]
            if let etcd = reading.etcd { document = try JSONSerialization.jsonObject(with: try encoder.encode(etcd)) as? [String: Any] ?? [:] }
            document["podNetwork"] = try JSONSerialization.jsonObject(with: try encoder.encode(reading.network))
            document["balancers"] = try JSONSerialization.jsonObject(with: try encoder.encode(reading.balancers))
            document["services"] = try JSONSerialization.jsonObject(with: try encoder.encode(reading.services))
            document["certificates"] = try JSONSerialization.jsonObject(with: try encoder.encode(reading.soonest))
            document["backup"] = try JSONSerialization.jsonObject(with: try encoder.encode(backup))
            document["unreachable"] = reading.unreachable
            document["problems"] = verdict.problems
            document["healthy"] = verdict.problems.isEmpty
            print(String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        case .text:
            if let etcd = reading.etcd {
                print(etcd.details, terminator: "")
            } else {
                print("\(inventory.name) is a managed cluster: etcd and the control plane belong to \(inventory.controlPlane.managed?.provider.displayName ?? "the provider").")
                for host in reading.unreachable.keys.sorted() { print("\(host): not answering over SSH: \(reading.unreachable[host] ?? "")") }
            }
            print(reading.servicesText, terminator: "")
            print(backup.text)
            print(reading.balancers.text + reading.network.text, terminator: "")
            print(verdict.line)
        }
        return verdict.problems.isEmpty
    }
}

/// What one `status` round reads from the hosts.
struct ClusterReading {
    var etcd: EtcdStatusReport?
    var services: [HostHealth]
    /// Host → its soonest-expiring certificate file (self-managed clusters).
    var soonest: [String: SoonestCertificate]
    var certificateError: String?
    var unreachable: [String: String]
    var network: PodNetworkStatus
    var balancers: BalancerStatus

    struct SoonestCertificate: Codable {
        var file: String
        var notAfter: Date
        var daysLeft: Int
    }

    static func read(inventory: Inventory, state: StateDirectory, names: [String], in context: WorkflowContext) async throws -> ClusterReading {
        let unreachable = await LiveContext.unreachable(names, in: context)
        var etcd: EtcdStatusReport?
        var soonest: [String: SoonestCertificate] = [:]
        var certificateError: String?
        if inventory.isSelfManaged {
            var report = await EtcdStatusReport.gather(spec: try EtcdClusterSpec(inventory: inventory), in: context)
            let (outcome, unread) = try await ClusterIdentityGuard.observe(inventory: inventory, state: state, in: context)
            report.attach(identity: outcome, unread: unread, uid: try state.clusterRecord()?.uid)
            report.attach(unreachable: unreachable)
            etcd = report
            do {
                let check = try await CertificateCheck.run(inventory: inventory, state: state, now: Date(), in: context)
                for row in check.rows {
                    guard let found = row.found, let days = row.daysLeft else { continue }
                    if let known = soonest[row.host], known.notAfter <= found.notAfter { continue }
                    soonest[row.host] = SoonestCertificate(file: row.file, notAfter: found.notAfter, daysLeft: days)
                }
            } catch {
                certificateError = "\(error)"
            }
        }
        let answering = names.filter { unreachable[$0] == nil }
        return ClusterReading(
            etcd: etcd, services: await HostHealth.gather(inventory: inventory, hosts: answering, in: context), soonest: soonest,
            certificateError: certificateError, unreachable: unreachable,
            network: await PodNetworkStatus.gather(inventory: inventory, state: state, in: context),
            balancers: await BalancerStatus.gather(inventory: inventory, in: context))
    }

    var servicesText: String {
        var rows = [["HOST", "SERVICES", "API /readyz", "KUBELET", "SOONEST CERTIFICATE", "TIMER BACKUP"]]
        let now = Date()
        for health in services {
            guard health.error == nil else {
                rows.append([health.host, "cannot read: \(health.error ?? "")", "-", "-", "-", "-"])
                continue
            }
            let bad = health.units.filter { !$0.healthy }
            let units = health.units.isEmpty ? "none installed"
                : bad.isEmpty ? "\(health.units.count) ok" : bad.map { "\($0.name) \($0.state.uppercased())" }.joined(separator: ", ")
            let cert = soonest[health.host].map { "\($0.daysLeft)d (\($0.file))" + ($0.daysLeft < 0 ? " EXPIRED" : $0.daysLeft <= 30 ? " renew soon" : "") } ?? "-"
            rows.append([health.host, units, Self.probe(health.apiServer), Self.probe(health.kubelet), cert,
                         health.lastTimerBackup.map { humanAge(now.timeIntervalSince($0)) + " ago" } ?? "-"])
        }
        var out = table(rows) + "\n"
        if let certificateError { out += "certificates: could not be read: \(certificateError)\n" }
        return out
    }

    static func probe(_ probe: HostHealth.Probe?) -> String {
        guard let probe else { return "-" }
        return probe.ok ? probe.detail.isEmpty ? "ok" : probe.detail : "FAILED: \(probe.detail.prefix(60))"
    }

    /// Everything that makes the cluster unhealthy, in words, and the verdict line.
    func verdict(cluster: String) -> (problems: [String], line: String) {
        var problems: [String] = []
        for host in unreachable.keys.sorted() { problems.append("\(host) does not answer over SSH") }
        if let etcd { problems += etcd.problems }
        for health in services {
            if let error = health.error { problems.append("\(health.host): services unreadable (\(error))"); continue }
            for unit in health.units where !unit.healthy { problems.append("\(health.host): \(unit.name) is \(unit.state)") }
            if health.apiServer?.ok == false { problems.append("\(health.host): the API server is not ready") }
            if health.kubelet?.ok == false { problems.append("\(health.host): the kubelet does not answer") }
        }
        for (host, cert) in soonest.sorted(by: { $0.key < $1.key }) where cert.daysLeft < 0 {
            problems.append("\(host): \(cert.file) has expired")
        }
        let line = problems.isEmpty ? "cluster \(cluster): healthy"
            : "cluster \(cluster): UNHEALTHY: " + problems.joined(separator: "; ")
        return (problems, line)
    }
}

/// The newest backup in the inventory's store (self-managed clusters with a backup policy).
struct BackupReading: Codable {
    var store: String?
    var newest: String?
    var createdAt: Date?
    var error: String?
    var note: String?

    static func read(_ inventory: Inventory) async -> BackupReading {
        guard inventory.isSelfManaged else { return BackupReading(note: "the provider backs up etcd") }
        guard inventory.etcd.backup != nil else { return BackupReading(note: "no backup policy (spec.etcd.backup)") }
        do {
            let store = try await BackupSetup.store(inventory)
            let entries = try await BackupCatalog(store: store).entries()
            let newest = entries.max { $0.manifest.createdAt < $1.manifest.createdAt }
            return BackupReading(store: store.location, newest: newest?.name, createdAt: newest?.manifest.createdAt)
        } catch {
            return BackupReading(error: "\(error)")
        }
    }

    var text: String {
        if let note { return "backups: \(note)" }
        if let error { return "backups: the store could not be read: \(error)" }
        guard let newest, let createdAt else { return "backups: none yet in \(store ?? "the store") (capstan backup now, or the timer)" }
        return "backups: newest \(newest), \(humanAge(Date().timeIntervalSince(createdAt))) old, in \(store ?? "the store")"
    }
}
