import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

struct CertsRotateSAKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-sa-key",
        abstract: "Rotate the service-account signing key: verify with both, sign with the new, drop the old after --wait.",
        discussion: HelpExamples.discussion("certs rotate-sa-key", """
            Three steps, each written to the state (pki/sa-rotation.json, pki/sa-next.key, pki/sa-retired.pub) and \
            rolled out one host at a time as `certs rotate` rolls files (every service reading a changed file restarts, \
            gated on health; a host that does not come back gets its previous files back): verify (sa.pub holds the old \
            and the new public key; the old key still signs), sign (API servers and controller managers sign with the \
            new key; the old public key still verifies), drop (the old public key removed, once --wait has passed since \
            the new key began signing: the kubelet renews projected tokens at 80% of their lifetime and at least every \
            24 h). A run before the wait is over rolls nothing new and says when to come back; a stopped run continues \
            from the recorded step. Tokens kept in Secrets of type kubernetes.io/service-account-token are never \
            renewed: those signed with the old key stop working at the drop step; re-create them after the sign step.
            First prints the plan; then asks on a terminal (--yes goes ahead without asking; off a terminal without \
            --yes nothing is changed, exit 2). --dry-run only prints.
            """)
    )

    @OptionGroup var inventory: InventoryOption
    @Flag(help: "Go ahead without asking (for scripts and timers).") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Only print the plan; change nothing.") var dryRun = false
    @Option(name: .customLong("wait"), help: "How long the old key keeps verifying after the new one signs (e.g. 24h).")
    var wait: String = "24h"
    @Flag(name: .customLong("stop-after-verify"), help: "Stop once every API server verifies with both keys; run again to continue.")
    var stopAfterVerify = false
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for health after each restart.")
    var healthTimeout: Double = 60

    func run() async throws {
        let (inv, _) = try inventory.load()
        if let refusal = ManagedMode.refusal(for: .serviceAccountKeyRotation, inventory: inv) {
            printError("certs rotate-sa-key: \(refusal)")
            throw ExitCode(ExitStatus.refused)
        }
        guard let span = TimeSpan(parsing: wait) else { throw ValidationError("--wait: \(wait) is not a time span (e.g. 24h, 30m)") }
        let settings = try EtcdWorkflowSettings(inventory: inv, artifacts: try ArtifactStore(for: inv), healthTimeoutSeconds: healthTimeout)
        let manager = PKIManager(inventory: inv, state: settings.state)
        try await Confirmation.planThenApply("certs rotate-sa-key", question: "Rotate the service-account key now", inventory: inv,
                                             yes: yes, dryRun: dryRun) { ctx in
            try await ServiceAccountKeyRotation.run(manager: manager, wait: span, stopAfterVerify: stopAfterVerify, ctx, settings)
        } applied: { outcome in
            switch outcome {
            case .finished: print("certs rotate-sa-key: every API server and controller manager uses the new key only")
            case .waiting(let after): print("certs rotate-sa-key: the new key signs; run again after \(ISO8601DateFormatter().string(from: after)) to drop the old one")
            case .stoppedAfterVerify: print("certs rotate-sa-key: every API server verifies with both keys; run again to continue")
            }
        }
    }
}
