import ArgumentParser
import Foundation

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "Kubernetes cluster lifecycle over SSH: PKI, etcd, control plane, workers, backups, rotation, upgrades.",
        version: CapstanVersion.current,
        subcommands: [
            InitCommand.self, ValidateCommand.self, PlanCommand.self, ApplyCommand.self, StatusCommand.self,
            CertsCommand.self, BackupCommand.self, UpgradeCommand.self, NodeCommand.self,
            ResetCommand.self, KubeconfigCommand.self, ExecCommand.self, CopyCommand.self, SSHCommand.self,
            ArtifactsCommand.self, AddonsCommand.self, StateCommand.self, ExplainCommand.self, LabCommand.self,
        ]
    )

    /// Runs the command, then ends the process with `_exit` once output is flushed. SSH sessions close on
    /// their own threads (libssh2 disconnect in `deinit`); letting `exit` run OpenSSL's atexit cleanup while
    /// one of them is still inside libssh2 crashed the process after its work was done. Every command
    /// awaits its own state writes before returning, so nothing that matters is still running here.
    static func main() async {
        let code: Int32
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            code = ExitCode.success.rawValue
        } catch {
            let exit = exitCode(for: error)
            let text = fullMessage(for: error)
            if !text.isEmpty {
                if exit == .success {
                    print(text)
                } else {
                    FileHandle.standardError.write(Data((text + "\n").utf8))
                }
            }
            code = exit.rawValue
        }
        fflush(nil)
        _exit(code)
    }
}

enum CapstanVersion {
    static let current = "0.1.0-dev"
}
