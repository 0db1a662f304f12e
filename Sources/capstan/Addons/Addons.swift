import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Templates
import Workflows

struct AddonsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "addons", abstract: "Render and apply add-on manifests (monitoring).",
        subcommands: [AddonsRender.self, AddonsApply.self])
}

/// The inventory, its state directory and the rendered monitoring manifests; notes go to stderr.
private func renderMonitoring(_ option: InventoryOption, templates: String?) throws -> (Inventory, StateDirectory, AddonManifests) {
    let (inventory, _) = try option.load(checkFiles: false)
    let state = StateDirectory(inventory: inventory)
    let manifests = try MonitoringAddon.render(
        inventory: inventory, etcdClient: try EtcdClientMaterial.load(inventory: inventory, state: state),
        renderer: TemplateRenderer(overrideDirectory: templates))
    for note in manifests.notes { printError(note) }
    return (inventory, state, manifests)
}

struct TemplatesOption: ParsableArguments {
    @Option(name: .customLong("templates"), help: "Directory whose files override the default templates (same relative names, e.g. addons/monitoring/prometheus.yaml).")
    var directory: String?
}

struct AddonsRender: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Render the monitoring add-on's manifests (Prometheus, node exporters, etcd client Secret).",
        discussion: HelpExamples.discussion("addons render", "Without --to, prints every manifest as one YAML stream on stdout. The etcd client Secret holds a private key: files are written 0600."))

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var templates: TemplatesOption
    @Option(name: .customLong("to"), help: "Directory to write one file per manifest into (created if missing).")
    var directory: String?

    func run() async throws {
        let (_, _, manifests) = try renderMonitoring(inventory, templates: templates.directory)
        guard let directory else {
            FileHandle.standardOutput.write(Data(manifests.combined.utf8))
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for name in manifests.orderedNames {
                let path = (directory as NSString).appendingPathComponent(name)
                try Data((manifests.files[name] ?? "").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
                print(path)
            }
        } catch {
            throw WorkflowError.namedFile("cannot write the manifests into \(directory): \(error.localizedDescription)", cause: error)
        }
    }
}

struct AddonsApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Render the monitoring add-on and apply it with kubectl when the cluster answers.", discussion: HelpExamples.discussion("addons apply"))

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var templates: TemplatesOption
    @Option(name: .customLong("kubeconfig"), help: "Kubeconfig for kubectl (default: the admin kubeconfig in the state directory; required for a managed cluster).")
    var kubeconfig: String?
    @Option(name: .customLong("kubectl"), help: "kubectl executable.")
    var kubectl = "kubectl"
    @Flag(name: .customLong("dry-run"), help: "Send the manifests as a server-side dry run: the API server validates and admits them, nothing is stored.")
    var dryRun = false

    func run() async throws {
        let (inv, state, manifests) = try renderMonitoring(inventory, templates: templates.directory)
        let config: String
        if let kubeconfig {
            config = kubeconfig
        } else if inv.isSelfManaged {
            config = state.path("kubeconfig/admin.conf")
        } else {
            throw WorkflowError.inventory("a managed cluster has no Capstan admin kubeconfig: pass --kubeconfig with credentials for \(inv.name)")
        }
        let applier = AddonApplier(runner: LocalConnection(), kubeconfig: config, kubectl: kubectl)
        print(try await applier.apply(manifests, dryRun: dryRun), terminator: "")
    }
}
