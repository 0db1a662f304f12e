import ArgumentParser

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "etcd backups: now, list, verify, restore, schedule, prune, sync.",
        subcommands: [BackupNow.self, BackupList.self, BackupVerify.self, BackupRestore.self, BackupSchedule.self, BackupPrune.self, BackupSync.self]
    )
}

struct BackupNow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "now", abstract: "Take a verified, encrypted etcd snapshot.")

    func run() async throws {
        throw NotImplemented(command: "backup now")
    }
}

struct BackupList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List backups with age and size.")

    func run() async throws {
        throw NotImplemented(command: "backup list")
    }
}

struct BackupVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Decrypt and verify a backup.")

    func run() async throws {
        throw NotImplemented(command: "backup verify")
    }
}

struct BackupRestore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restore", abstract: "Restore etcd from a backup.")

    func run() async throws {
        throw NotImplemented(command: "backup restore")
    }
}

struct BackupSchedule: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "schedule", abstract: "Install the backup timer on the etcd members.")

    func run() async throws {
        throw NotImplemented(command: "backup schedule")
    }
}

struct BackupPrune: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prune", abstract: "Delete backups beyond the retention policy.")

    func run() async throws {
        throw NotImplemented(command: "backup prune")
    }
}

struct BackupSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sync", abstract: "Pull node-local snapshots into the backup store.")

    func run() async throws {
        throw NotImplemented(command: "backup sync")
    }
}
