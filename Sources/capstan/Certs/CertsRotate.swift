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
        abstract: "Rotate leaves or a CA on a live cluster, one host at a time, health-gated.",
        discussion: HelpExamples.discussion("certs rotate", """
            First prints what would be re-issued, pushed and restarted, in which order; then asks on a terminal \
            (--yes goes ahead without asking; off a terminal without --yes nothing is changed, exit 2). --dry-run \
            only prints.
            Leaves: re-issues in the state, then per host (hosts outside etcd first, then etcd members, leader \
            last) pushes the files that differ (the old ones stay as FILE.prev) and restarts the services reading \
            them (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy), each gated \
            on health: etcd cluster health and its served certificate, the API server's /livez, /readyz and served \
            certificate, kubelet, kube-proxy, controller-manager and scheduler /healthz (10248, 10256, 10257, \
            10259), controller-manager and scheduler kubeconfigs accepted. A \
            host that does not come back gets its .prev files back and the run stops.
            --ca etcd|cluster|front-proxy|all: phases trust (old + new CA trusted: ca.crt bundles and the \
            kubeconfigs' certificate-authority-data), leaves (re-issued from the new CA), untrust (old CA removed), \
            each restarting every service that reads that CA's files; recorded in <state>/rotation.json; running \
            again continues from the recorded phase. --ca all rotates etcd, cluster, front-proxy in turn and keeps \
            the CAs not finished yet in <state>/rotation-all.json, so a re-run continues with the CA it stopped at \
            (or the next one); once all three are done, --ca all starts a new run.
            Automation: a timer running `capstan certs rotate -i FILE --expiring-within 30d --yes` keeps leaves fresh.
            """)
    )

    @OptionGroup var inventory: InventoryOption
    @Option(name: .customLong("only"), help: "Rotate these leaves only: catalog names (etcd/server) or name@host (repeatable).")
    var only: [String] = []
    @Option(name: .customLong("expiring-within"), help: "Rotate leaves expiring within this span (e.g. 30d).")
    var expiringWithin: String = "30d"
    @Option(name: .customLong("ca"), help: "Rotate a CA instead of leaves: etcd, cluster, front-proxy or all (one after the other).")
    var ca: RotatedCA?
    @Option(name: .customLong("stop-after"), help: "With --ca: stop after this phase (trust or leaves); run again to continue.")
    var stopAfter: CARotationRecord.Phase?
    @Flag(help: "Go ahead without asking (for scripts and timers).") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Only print the plan; change nothing.") var dryRun = false
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
        let settings: EtcdWorkflowSettings
        do {
            settings = try EtcdWorkflowSettings(inventory: inv, artifacts: try ArtifactStore(for: inv), healthTimeoutSeconds: healthTimeout)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let manager = PKIManager(inventory: inv, state: settings.state)
        if !yes || dryRun {
            try await pass(apply: false, inv, manager, settings, window)
            if dryRun { return }
            try Confirmation.require("certs rotate", "Run this rotation now", yes: false)
        }
        try await pass(apply: true, inv, manager, settings, window)
    }

    /// The plan (`apply` false: reads the hosts, prints, changes nothing) or the rotation itself.
    func pass(apply: Bool, _ inv: Inventory, _ manager: PKIManager, _ settings: EtcdWorkflowSettings, _ window: TimeSpan) async throws {
        try await exitOnFailure {
            try await LiveContext.run(inventory: inv, mode: apply ? .apply : .plan, options: WorkflowOptions(force: force),
                                      output: apply ? LiveContext.output(.text) : CollectingOutput(), checkIdentity: true) { context in
                if let ca {
                    try await rotateCA(ca, manager, settings, context, apply: apply)
                } else {
                    try await rotateLeaves(manager, settings, context, window: window, apply: apply)
                }
            }
        }
    }

    func rotateLeaves(_ manager: PKIManager, _ settings: EtcdWorkflowSettings, _ ctx: WorkflowContext, window: TimeSpan, apply: Bool) async throws {
        let selection: RenewSelection = only.isEmpty ? .none : .names(only)
        if !apply {
            // The same path as the rotation, in plan mode: the actions come from the engine.
            _ = try await CertRotation.renewExpiring(within: window, only: selection, manager: manager, ctx, settings)
            let actions = await ctx.actions
            print("certs rotate plan (nothing changed yet):")
            if actions.isEmpty { print("  re-issue: nothing (no leaf selected or expiring within \(window))") }
            for action in actions {
                print("  [\(action.host)] \(action.description)")
                if let diff = action.diff { print(diff.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n")) }
            }
            let (order, leader) = await CertRotation.plannedOrder(ctx, settings)
            print("  then push the changed files and restart the services reading them, one host at a time: " + order.map { $0 == leader ? "\($0) (leader, last)" : $0 }.joined(separator: " → "))
            print("  hosts whose files and served certificates already match the state are skipped")
            print("  each restart waits for the service's health (etcd: cluster health and served certificate; kube-apiserver: /livez, /readyz and served certificate); on failure the host's .prev files are restored")
            return
        }
        let (result, rolled) = try await CertRotation.renewExpiring(within: window, only: selection, manager: manager, ctx, settings)
        if let result { CertsReport.print(result) }
        print("certs rotate: \(rolled.isEmpty ? "every host already had the state's certificates" : "rolled " + rolled.joined(separator: ", "))")
    }

    func rotateCA(_ ca: RotatedCA, _ manager: PKIManager, _ settings: EtcdWorkflowSettings, _ ctx: WorkflowContext, apply: Bool) async throws {
        let inProgress = try manager.loadRotation()
        let recordedRun = try CARotationRun.load(manager.state)
        let authorities = ca == .all
            ? CARotationRun.resume(recorded: recordedRun, inProgress: inProgress?.authority, now: Date()).remaining
            : ca.authorities
        if !apply {
            print("certs rotate --ca \(ca.rawValue) plan (nothing changed yet):")
            if ca == .all, let run = recordedRun {
                print("  a `--ca all` run is recorded (started \(ISO8601DateFormatter().string(from: run.startedAt))): it continues with \(authorities.map(\.rawValue).joined(separator: ", "))")
            }
            if let record = inProgress {
                print("  a rotation of \(record.authority.rawValue) is in progress: phase \(record.phase.rawValue), done there: \(record.doneHosts.isEmpty ? "none" : record.doneHosts.joined(separator: ", "))")
            }
            let (order, leader) = await CertRotation.plannedOrder(ctx, settings)
            let roll = order.map { $0 == leader ? "\($0) (leader, last)" : $0 }.joined(separator: " → ")
            for authority in authorities {
                let bundle = authority == .cluster ? "ca.crt and the kubeconfigs' certificate-authority-data" : "\(authority.rawValue).crt"
                print("  \(authority.rawValue):")
                print("    1. trust: create a new CA; push \(bundle) = old + new; restart the services reading it, host by host: \(roll)")
                print("    2. leaves: the new CA signs; re-issue every leaf it signs; push and restart \(roll)")
                print("    3. untrust: \(bundle) = new only; restart \(roll)")
            }
            print("  every restart is gated on the service's health; progress is kept in \(manager.state.path(PKIManager.rotationRecordPath))"
                  + (ca == .all ? " and \(manager.state.path(CARotationRun.path))" : ""))
            return
        }
        guard ca == .all else {
            for authority in authorities {
                if let stopped = try await CertRotation.rotateCA(authority, manager: manager, stopAfter: stopAfter, ctx, settings) {
                    print("certs rotate --ca \(ca.rawValue): \(authority.rawValue) stopped after phase \(stopped.phase.rawValue) as asked; run again to continue")
                    return
                }
                print("certs rotate --ca \(ca.rawValue): \(authority.rawValue) complete")
            }
            return
        }
        let (completed, stopped) = try await CertRotation.rotateAllCAs(manager: manager, stopAfter: stopAfter, ctx, settings)
        for authority in completed { print("certs rotate --ca all: \(authority.rawValue) complete") }
        if let stopped {
            print("certs rotate --ca all: \(stopped.authority.rawValue) stopped after phase \(stopped.phase.rawValue) as asked; run `--ca all` again to continue")
        } else {
            print("certs rotate --ca all: every CA rotated")
        }
    }
}
