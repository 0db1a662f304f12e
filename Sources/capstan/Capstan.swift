import ArgumentParser
import Foundation
import Workflows

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "Kubernetes cluster lifecycle over SSH: PKI, etcd, control plane, workers, backups, rotation, upgrades.",
        version: CapstanVersion.current,
        subcommands: [
            InitCommand.self, ValidateCommand.self, PlanCommand.self, ApplyCommand.self, StatusCommand.self, AuditCommand.self,
            CertsCommand.self, SecretsCommand.self, BackupCommand.self, UpgradeCommand.self, NodeCommand.self,
            ResetCommand.self, KubeconfigCommand.self, ExecCommand.self, CopyCommand.self, SSHCommand.self,
            ArtifactsCommand.self, AddonsCommand.self, StateCommand.self, ExplainCommand.self, LabCommand.self,
        ]
    )

    /// Runs the command, then ends the process with `_exit` once output is flushed. SSH sessions close on
    /// their own threads (libssh2 disconnect in `deinit`); letting `exit` run OpenSSL's atexit cleanup while
    /// one of them is still inside libssh2 crashed the process after its work was done. Every command
    /// awaits its own state writes before returning, so nothing that matters is still running here.
    ///
    /// Exit statuses, the same for every command: 0 done (or nothing to do), 1 failed (a safety refusal
    /// found while running, e.g. etcd without quorum, is a failure too), 2 refused before any change
    /// (another cluster's hosts, a removal that would end etcd, no `--yes` off a terminal), 64 a usage error.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            // Parsing and `validate()`: the argument parser's own message, with the usage block.
            end(exitCode(for: error), fullMessage(for: error))
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            end(.success, "")
        } catch {
            end(Self.runtimeExit(for: error), Self.runtimeMessage(for: error))
        }
    }

    /// The one renderer of errors thrown while a command runs: no usage block (the command line parsed).
    static func runtimeMessage(for error: any Error) -> String {
        if let validation = error as? ValidationError { return "Error: " + validation.message }
        if error is WorkflowError { return "Error: \(error)" }
        // ExitCode, CleanExit, `capstan help …` and any other error: as the argument parser renders them.
        return fullMessage(for: error)
    }

    static func runtimeExit(for error: any Error) -> ExitCode {
        switch error {
        case is ValidationError: return ExitCode(ExitStatus.usage)
        case let workflow as WorkflowError: return ExitCode(ExitStatus.of(workflow))
        default: return exitCode(for: error)
        }
    }

    private static func end(_ exit: ExitCode, _ text: String) -> Never {
        if !text.isEmpty {
            if exit == .success { print(text) } else { FileHandle.standardError.write(Data((text + "\n").utf8)) }
        }
        fflush(nil)
        _exit(exit.rawValue)
    }
}

enum CapstanVersion {
    static let current = "0.1.0-dev"
}
