import ArgumentParser
import Lab

struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Local throwaway hosts (systemd + sshd) to try inventories on.",
        discussion: """
        Hosts are systemd-nspawn containers with systemd as PID 1 and sshd, reachable from this machine \
        at 10.213.0.11, .12, … (lab `default`; other labs use 10.213.N.0/24) and from nowhere else. \
        Needs root. State: /var/lib/capstan/lab/<name>; base image and artifacts: /var/cache/capstan/lab.
        """,
        subcommands: [LabUp.self, LabDown.self, LabStatusCommand.self, LabSSH.self, LabStop.self, LabStart.self]
    )
}

struct LabNameOption: ParsableArguments {
    @Option(name: .long, help: "Lab name (1-11 characters a-z, 0-9, -).")
    var name: String = LabLayout.defaultName

    func open() throws -> Lab {
        do { return try Lab(name: name) } catch let error as LabError { throw ValidationError(error.message) }
    }
}

/// Lab errors are already complete sentences; print them without ArgumentParser's decoration.
struct LabFailure: Error, CustomStringConvertible {
    var description: String
}

func labCall<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as LabError { throw LabFailure(description: "capstan lab: " + error.message) }
}
