import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

enum RotatedCA: String, ExpressibleByArgument, CaseIterable {
    case etcd, cluster, frontProxy = "front-proxy", all

    var authorities: [AuthorityName] {
        switch self {
        case .etcd: return [.etcd]
        case .cluster: return [.cluster]
        case .frontProxy: return [.frontProxy]
        case .all: return [.etcd, .cluster, .frontProxy]
        }
    }
}

extension CARotationRecord.Phase: ExpressibleByArgument {}

struct CertsRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rotate leaves or the etcd CA on a live cluster, one host at a time, health-gated.",
        discussion: """
            Without --yes prints what would be re-issued, pushed and restarted, in which order, and changes nothing.
            Leaves: re-issues in the state, then per host (etcd members, leader last) pushes the files (the \
            old ones stay as FILE.prev), restarts etcd, waits for cluster health and for the member to serve \
            its new certificate; a host that does not come back gets its .prev files back and the run stops.
            --ca etcd: phases trust (old + new CA trusted), leaves (re-issued from the new CA), untrust (old \
            CA removed), recorded in <state>/rotation.json; running again continues from the recorded phase.
            Automation: a timer running `capstan certs rotate -i FILE --expiring-within 30d --yes` keeps leaves fresh.
            """
    )

    @OptionGroup var inventory: InventoryOption
    @Option(name: .customLong("only"), help: "Rotate these leaves only: catalog names (etcd/server) or name@host (repeatable).")
    var only: [String] = []
    @Option(name: .customLong("expiring-within"), help: "Rotate leaves expiring within this span (e.g. 30d).")
    var expiringWithin: String = "30d"
    @Option(name: .customLong("ca"), help: "Rotate a CA instead of leaves: etcd (cluster, front-proxy, all: not implemented yet).")
    var ca: RotatedCA?
    @Option(name: .customLong("stop-after"), help: "With --ca: stop after this phase (trust or leaves); run again to continue.")
    var stopAfter: CARotationRecord.Phase?
    @Flag(help: "Do it; without this flag only the plan is printed.") var yes = false
    @Flag(help: "Go ahead although etcd is unhealthy before a restart (never without quorum).") var force = false
    @Flag(name: .customLong("install-timer"), help: "Write a daily user-level systemd timer running this rotation with --expiring-within and --yes; rotate nothing now.")
    var installTimer = false
    @Option(name: .customLong("timer-directory"), help: "Where --install-timer writes the units (default ~/.config/systemd/user).")
    var timerDirectory: String?
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for health and the served certificate after each restart.")
    var healthTimeout: Double = 60

    func run() async throws {
        let (inv, _) = try inventory.load()
        if let refusal = ManagedMode.refusal(for: .controlPlaneCertRotation, inventory: inv) {
            printError("certs rotate: \(refusal)")
            throw ExitCode(1)
        }
        guard let window = TimeSpan(parsing: expiringWithin) else {
            throw ValidationError("--expiring-within: \(expiringWithin) is not a time span (e.g. 30d, 12h)")
        }
        if installTimer {
            let paths = try CertsRotateTimer.install(inventory: inv, window: expiringWithin, directory: timerDirectory ?? CertsRotateTimer.defaultDirectory)
            for p in paths { print("wrote \(p)") }
            print("enable it with: systemctl --user daemon-reload && systemctl --user enable --now capstan-certs-rotate-\(inv.name).timer")
            return
        }
        if let ca, ca != .etcd {
            printError("certs rotate --ca \(ca.rawValue): not implemented yet (only --ca etcd rotates); control-plane CA rotation needs the control-plane rollout")
            throw ExitCode(1)
        }
        let settings: EtcdWorkflowSettings
        do {
            settings = try EtcdWorkflowSettings(inventory: inv, artifacts: try LiveContext.artifactStore(for: inv), healthTimeoutSeconds: healthTimeout)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let manager = PKIManager(inventory: inv, state: settings.state)
        let output = LiveContext.output(.text)
        let (context, connector) = LiveContext.make(inventory: inv, mode: yes ? .apply : .plan, options: WorkflowOptions(force: force),
                                                    output: yes ? output : CollectingOutput(), now: { Date() })
        do {
            if ca == .etcd {
                try await rotateCA(manager, settings, context)
            } else {
                try await rotateLeaves(manager, settings, context, window: window)
            }
        } catch {
            await context.closeAll()
            await connector.closeAll()
            printError("\(error)")
            throw ExitCode(1)
        }
        await context.closeAll()
        await connector.closeAll()
    }

    func rotateLeaves(_ manager: PKIManager, _ settings: EtcdWorkflowSettings, _ ctx: WorkflowContext, window: TimeSpan) async throws {
        let selection: RenewSelection = only.isEmpty ? .none : .names(only)
        let plan = try manager.plan(now: Date(), renewBefore: window, renew: selection)
        let rollable = Set(CertRotation.rollableNames)
        let reissues = plan.reissues
        let elsewhere = reissues.filter { !rollable.contains($0.certificate.name) }
        if !yes {
            print("certs rotate plan (nothing changed; add --yes to run):")
            if reissues.isEmpty { print("  re-issue: nothing (no leaf selected or expiring within \(window))") }
            for r in reissues { print("  re-issue \(r.certificate.id): \(r.reasons.map(\.description).joined(separator: "; "))") }
            for r in elsewhere { print("  note: \(r.certificate.id) is re-issued in the state only; rolling out control-plane certificates is not implemented yet") }
            let (order, leader) = await CertRotation.plannedOrder(ctx, settings)
            print("  then push the changed etcd files and restart, one host at a time: " + order.map { $0 == leader ? "\($0) (leader, last)" : $0 }.joined(separator: " → "))
            print("  hosts whose files and served certificate already match the state are skipped")
            print("  each restart waits for cluster health and for the member to serve the state's certificate; on failure its .prev files are restored")
            return
        }
        let (result, rolled) = try await CertRotation.renewExpiring(within: window, only: selection, manager: manager, ctx, settings)
        if let result { CertsReport.print(result) }
        for r in elsewhere { print("note: \(r.certificate.id) re-issued in the state only; rolling out control-plane certificates is not implemented yet") }
        print("certs rotate: \(rolled.isEmpty ? "every host already had the state's certificates" : "rolled " + rolled.joined(separator: ", "))")
    }

    func rotateCA(_ manager: PKIManager, _ settings: EtcdWorkflowSettings, _ ctx: WorkflowContext) async throws {
        if !yes {
            print("certs rotate --ca etcd plan (nothing changed; add --yes to run):")
            if let record = try manager.loadRotation() {
                print("  a rotation is in progress: phase \(record.phase.rawValue), done there: \(record.doneHosts.isEmpty ? "none" : record.doneHosts.joined(separator: ", "))")
            }
            let (order, leader) = await CertRotation.plannedOrder(ctx, settings)
            let roll = order.map { $0 == leader ? "\($0) (leader, last)" : $0 }.joined(separator: " → ")
            print("  1. trust: create a new etcd CA; push etcd/ca.crt = old + new; restart \(roll)")
            print("  2. leaves: the new CA signs; re-issue etcd/server, etcd/peer, etcd/healthcheck-client, apiserver-etcd-client; push and restart \(roll)")
            print("  3. untrust: etcd/ca.crt = new only; restart \(roll)")
            print("  every restart is gated on cluster health and on the served certificate; progress is kept in \(manager.state.path(PKIManager.rotationRecordPath))")
            return
        }
        if let stopped = try await CertRotation.rotateCA(.etcd, manager: manager, stopAfter: stopAfter, ctx, settings) {
            print("certs rotate --ca etcd: stopped after phase \(stopped.phase.rawValue) as asked; run again to continue")
        } else {
            print("certs rotate --ca etcd: complete")
        }
    }
}
