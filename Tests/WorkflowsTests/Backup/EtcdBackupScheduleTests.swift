import Foundation
import Hosts
import Inventory
import Testing
import TestSupport
@testable import Workflows

/// The schedule phase through the engine's guarded change path, on fake host trees with the systemd
/// test double (systemd cannot run as PID 1 here; the lab tests run the real timer).
@Suite("EtcdBackupSchedule: the timer as apply/plan phases", .tags(.unit))
struct EtcdBackupScheduleTests {
    func inventory(policy: BackupPolicy?) -> Inventory {
        var inventory = Fixture.inventory()
        inventory.etcd.backup = policy
        return inventory
    }

    func run(_ inventory: Inventory, mode: WorkflowMode, base: String, systemd: SystemdDouble) async throws -> RunReport {
        let context = WorkflowContext(mode: mode, connector: SystemdDoubleConnector(base: base, systemd: systemd),
                                      endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: CollectingOutput(), now: fixedNow)
        return try await PhaseRunner().run(Workflow(name: "t", phases: EtcdBackupSchedule.phases(inventory: inventory)), in: context)
    }

    @Test("no backup policy or a managed control plane: no phase")
    func noPolicyNoPhase() {
        #expect(EtcdBackupSchedule.phases(inventory: inventory(policy: nil)).isEmpty)
        var managed = inventory(policy: BackupPolicy())
        managed.controlPlane = ControlPlaneSpec(mode: .managed)
        #expect(EtcdBackupSchedule.phases(inventory: managed).isEmpty)
        let phases = EtcdBackupSchedule.phases(inventory: inventory(policy: BackupPolicy()))
        #expect(phases.map(\.name) == ["backup-schedule"])
        #expect(phases.first?.hosts == ["h1", "h2"])
    }

    @Test("plan shows the files and the enable with diffs and writes nothing; apply installs; a re-apply touches nothing; a new keep updates only the script")
    func planApplyNoOp() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let policy = BackupPolicy(schedule: "*:*:0/5", randomizedDelay: TimeSpan(seconds: 2), keep: 3, encryptionKeyFile: "/k")
        let inv = inventory(policy: policy)

        let plan = try await run(inv, mode: .plan, base: base, systemd: systemd)
        let planned = plan.actions.filter { $0.host == "h1" }.map(\.description)
        #expect(planned == ["create /usr/local/lib/capstan", "create /usr/local/lib/capstan/etcd-backup.sh", "create /etc/systemd/system/etcd-backup.service",
                            "create /etc/systemd/system/etcd-backup.timer",
                            "systemd loads the new etcd-backup.service, etcd-backup.timer (systemctl daemon-reload unless it read them by itself)",
                            "systemctl enable etcd-backup.timer", "systemctl start etcd-backup.timer"], "\(planned)")
        #expect(plan.actions.first { $0.description.hasSuffix("etcd-backup.timer") }?.diff?.contains("+OnCalendar=*:*:0/5") == true)
        #expect(!plan.actions.contains { $0.host == "h3" })
        #expect(!FileManager.default.fileExists(atPath: base + "/h1/etc/systemd/system/etcd-backup.timer"))

        let apply = try await run(inv, mode: .apply, base: base, systemd: systemd)
        #expect(apply.actions.count == plan.actions.count)
        let script = try String(contentsOfFile: base + "/h1/usr/local/lib/capstan/etcd-backup.sh", encoding: .utf8)
        #expect(script.contains("KEEP=3") && script.contains("h1 https://127.0.0.1:2379") && script.contains("h2 https://10.213.0.12:2379"))
        let mode = try FileManager.default.attributesOfItem(atPath: base + "/h2/usr/local/lib/capstan/etcd-backup.sh")[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(await systemd.active["h1"]?.contains("etcd-backup.timer") == true)
        #expect(await systemd.active["h1"]?.contains("etcd-backup.service") != true, "the install must not run a backup")

        let again = try await run(inv, mode: .apply, base: base, systemd: systemd)
        #expect(again.actions.isEmpty, "\(again.actions)")

        var changed = policy
        changed.keep = 5
        let update = try await run(inventory(policy: changed), mode: .apply, base: base, systemd: systemd)
        #expect(update.actions.map(\.description) == ["update /usr/local/lib/capstan/etcd-backup.sh", "update /usr/local/lib/capstan/etcd-backup.sh"])
    }
}
