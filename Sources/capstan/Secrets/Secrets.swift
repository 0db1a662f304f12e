import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

extension SecretsEncryption.Step: ExpressibleByArgument {}

struct SecretsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Secrets encrypted at rest: the API servers' keys and their rotation.",
        discussion: """
        Every API server of a self-managed cluster encrypts Secrets in etcd with secretbox (--encryption-provider-config, \
        /etc/kubernetes/encryption-config.yaml, 0600). The keys live in the state directory \
        (pki/secrets-encryption.json, 0600), so the PKI published to the backup store carries them with the snapshots \
        that need them; apply's pki phase makes the first one.
        """,
        subcommands: [SecretsStatus.self, SecretsRotateKey.self]
    )
}

struct SecretsStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "The Secrets encryption keys in the state and any rotation in progress (reads no host).",
                                                    discussion: HelpExamples.discussion("secrets status"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption

    struct Document: Encodable {
        struct Key: Encodable {
            var name: String
            var created: Date
            var role: String
        }
        var provider = "secretbox"
        var keys: [Key]
        var rotation: SecretsEncryption.Rotation?
    }

    func run() async throws {
        let (inv, _) = try inventory.load(checkFiles: false)
        let state = StateDirectory(inventory: inv)
        guard let encryption = try SecretsEncryption.load(state) else {
            printError("secrets status: no key in \(state.path(SecretsEncryption.path)) yet; `capstan apply` makes the first one")
            throw ExitCode(1)
        }
        let doc = Document(keys: encryption.keys.enumerated().map { i, key in
            Document.Key(name: key.name, created: key.created, role: i == 0 ? "writes and reads" : "reads")
        }, rotation: encryption.rotation)
        switch output.output {
        case .json:
            try printJSON(doc)
        case .text:
            print("Secrets encryption: secretbox, keys in \(state.path(SecretsEncryption.path))")
            for key in doc.keys { print("  \(key.name) (made \(ISO8601DateFormatter().string(from: key.created))): \(key.role)") }
            if let rotation = doc.rotation {
                print("rotation \(rotation.from) → \(rotation.to) in progress at step \(rotation.step.rawValue): run `capstan secrets rotate-key` to finish it")
            }
        }
    }
}

struct SecretsRotateKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate-key",
        abstract: "Rotate the Secrets encryption key on every API server, host by host, health-gated, resumable.",
        discussion: HelpExamples.discussion("secrets rotate-key", """
            Four steps, each recorded in the state before its restarts and rolled to every API server one host at a \
            time (each restart gated on /livez and /readyz): reader (the new key added after the old one), writer \
            (the new key first), rewritten (every Secret read and replaced through the API, so etcd holds it under the \
            new key), dropping (the old key removed). A run stopped anywhere (error, SIGKILL, --stop-after) continues \
            from the recorded step when run again. With a backup policy the PKI published to the backup store is \
            refreshed after each step, so snapshots always reference the keys their Secrets need.
            First prints the first step's changes; then asks on a terminal (--yes goes ahead without asking; off a \
            terminal without --yes nothing is changed, exit 2). --dry-run only prints.
            """)
    )

    @OptionGroup var inventory: InventoryOption
    @Flag(help: "Go ahead without asking (for scripts and timers).") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Only print the plan; change nothing.") var dryRun = false
    @Option(name: .customLong("stop-after"), help: "Stop after this step (reader, writer, rewritten); run again to continue.")
    var stopAfter: SecretsEncryption.Step?
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for each API server's /livez and /readyz after its restart.")
    var healthTimeout: Double = 120

    func run() async throws {
        let (inv, _) = try inventory.load()
        if let refusal = ManagedMode.refusal(for: .secretsKeyRotation, inventory: inv) {
            printError("secrets rotate-key: \(refusal)")
            throw ExitCode(ExitStatus.refused)
        }
        let phases = try LiveContext.phases(inv)
        let settings = KubernetesInstallSettings(healthGate: HealthGate(timeoutSeconds: healthTimeout, intervalSeconds: 1))
        let republish = EtcdBackupSchedule.phases(inventory: inv, operatorStore: phases.backupStore)
        let state = StateDirectory(inventory: inv)
        try await Confirmation.planThenApply("secrets rotate-key", question: "Rotate the Secrets encryption key now", inventory: inv,
                                             yes: yes, dryRun: dryRun) { ctx in
            try await SecretsKeyRotation.run(inventory: inv, state: state, settings: settings, republish: republish, stopAfter: stopAfter, ctx)
        } applied: { [stopAfter] outcome in
            if let rewritten = outcome.rewritten { print("secrets rotate-key: \(rewritten) Secret(s) rewritten with \(outcome.writer)") }
            if let stopAfter, outcome.steps.last == stopAfter {
                print("secrets rotate-key: stopped after step \(stopAfter.rawValue) as asked; run again to continue")
            } else {
                print("secrets rotate-key: every API server encrypts with \(outcome.writer) only")
            }
        }
    }
}
