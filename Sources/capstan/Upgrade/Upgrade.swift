import ArgumentParser

struct UpgradeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Planned, skew-checked upgrades with a rollback point.",
        subcommands: [UpgradePlan.self, UpgradeApply.self, UpgradeRollback.self]
    )
}

struct UpgradePlan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Compute and check the upgrade path.")

    func run() async throws {
        throw NotImplemented(command: "upgrade plan")
    }
}

struct UpgradeApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "apply", abstract: "Upgrade etcd, control plane and workers one member at a time.")

    func run() async throws {
        throw NotImplemented(command: "upgrade apply")
    }
}

struct UpgradeRollback: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Return etcd/control plane to the previous binaries.")

    func run() async throws {
        throw NotImplemented(command: "upgrade rollback")
    }
}
