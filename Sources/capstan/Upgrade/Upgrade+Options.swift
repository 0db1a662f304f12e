import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

/// What `upgrade apply` and `upgrade rollback` share: confirmation, health and drain settings.
struct UpgradeRunOptions: ParsableArguments {
    @Flag(name: .long, help: "Go ahead without asking (for scripts; off a terminal the command refuses without it).") var yes = false
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and show what would change (apply: every action of every step, from the same path as the upgrade; rollback: the steps); change nothing.") var dryRun = false
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for etcd, API server and component health after each restart.") var healthTimeout: Double = 60
    @Flag(name: .customLong("force-drain"), help: "When PodDisruptionBudgets hold a drain up past --drain-timeout, delete the node's pods anyway.")
    var forceDrain = false
    @Option(name: .customLong("drain-timeout"), help: "How long one node's drain may take, e.g. 90s or 5m (default: spec.upgrade.drainTimeout, 5m).")
    var drainTimeout: String?
    @Option(name: .customLong("kubeconfig"), help: "Managed clusters: credentials for the provider's API; kubectl cordons and drains the workers from this machine with them.")
    var kubeconfig: String?
    @Option(name: .customLong("kubectl"), help: "Managed clusters: the kubectl executable on this machine.")
    var kubectl = "kubectl"

    func validate() throws {
        if let drainTimeout, TimeSpan(parsing: drainTimeout) == nil {
            throw ValidationError("--drain-timeout \(drainTimeout) is not a duration like 90s or 5m")
        }
    }

    /// --kubeconfig is for managed clusters only: on a self-managed one kubectl runs on the first control-plane
    /// host with the admin kubeconfig Capstan placed there.
    func requireKubeconfig(_ inventory: Inventory) throws -> String? {
        if inventory.isSelfManaged {
            if kubeconfig != nil {
                throw ValidationError("--kubeconfig is for managed clusters; for \(inventory.name) kubectl runs on its first control-plane host with the admin kubeconfig Capstan placed there")
            }
            return nil
        }
        guard let kubeconfig else {
            throw ValidationError("\(inventory.name) is managed: its workers are cordoned and drained through the provider's API with your credentials; pass --kubeconfig FILE (kubectl runs on this machine)")
        }
        guard FileManager.default.isReadableFile(atPath: kubeconfig) else { throw ValidationError("--kubeconfig \(kubeconfig): no readable file there") }
        return kubeconfig
    }

    /// Goes ahead when confirmed (`Confirmation`); false for `--dry-run`, after saying so.
    func confirm(_ command: String, _ question: String) throws -> Bool {
        if dryRun {
            print("\(command) (dry run): nothing was changed; \(question.prefix(1).lowercased() + question.dropFirst()) without --dry-run")
            return false
        }
        try Confirmation.require(command, question, yes: yes)
        return true
    }

    /// The upgrade's steps with these settings; progress lines go to standard output.
    func operation(_ inventory: Inventory) -> UpgradeOperation {
        UpgradeOperation(inventory: inventory, settings: settings(inventory), etcdHealthTimeoutSeconds: healthTimeout, say: { print($0) })
    }

    func settings(_ inventory: Inventory) -> KubernetesUpgradeSettings {
        let timeout = drainTimeout.flatMap(TimeSpan.init(parsing:)) ?? inventory.upgrade.drainTimeout
        var settings = KubernetesUpgradeSettings(forceDrain: forceDrain, drainTimeoutSeconds: max(1, timeout.seconds),
                                                 healthGate: HealthGate(timeoutSeconds: healthTimeout))
        if !inventory.isSelfManaged, let kubeconfig {
            settings.kubectl = kubectl
            settings.kubeconfig = kubeconfig
        }
        return settings
    }
}
