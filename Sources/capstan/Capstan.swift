import ArgumentParser

@main
struct Capstan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capstan",
        abstract: "Kubernetes cluster lifecycle over SSH: PKI, etcd, control plane, workers, backups, rotation, upgrades.",
        version: CapstanVersion.current,
        subcommands: [
            InitCommand.self, ValidateCommand.self, PlanCommand.self, ApplyCommand.self, StatusCommand.self,
            CertsCommand.self, BackupCommand.self, UpgradeCommand.self, NodeCommand.self,
            ResetCommand.self, KubeconfigCommand.self, ExecCommand.self, SSHCommand.self,
            ArtifactsCommand.self, AddonsCommand.self, LabCommand.self,
        ]
    )
}

enum CapstanVersion {
    static let current = "0.1.0-dev"
}
