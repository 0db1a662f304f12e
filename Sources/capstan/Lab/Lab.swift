import ArgumentParser

struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Local throwaway hosts (systemd + sshd) to try inventories on.",
        subcommands: [LabUp.self, LabDown.self, LabStatus.self, LabSSH.self, LabStop.self, LabStart.self]
    )
}

struct LabUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Create and boot lab hosts and write their inventory.")

    func run() async throws {
        throw NotImplemented(command: "lab up")
    }
}

struct LabDown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Remove everything the lab made.")

    func run() async throws {
        throw NotImplemented(command: "lab down")
    }
}

struct LabStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "List lab hosts and the inventory path.")

    func run() async throws {
        throw NotImplemented(command: "lab status")
    }
}

struct LabSSH: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh", abstract: "Open a shell on a lab host.")

    func run() async throws {
        throw NotImplemented(command: "lab ssh")
    }
}

struct LabStop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Power a lab host off.")

    func run() async throws {
        throw NotImplemented(command: "lab stop")
    }
}

struct LabStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Power a lab host on.")

    func run() async throws {
        throw NotImplemented(command: "lab start")
    }
}
