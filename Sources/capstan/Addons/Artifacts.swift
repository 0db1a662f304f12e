import ArgumentParser
import Foundation
import Inventory
import Workflows

struct ArtifactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts", abstract: "Fetch and verify release artifacts; build offline bundles.",
        subcommands: [ArtifactsFetch.self])
}

struct ArtifactsFetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Copy exactly the release files an inventory needs, checksum-verified, into an offline bundle.",
        discussion: """
        The bundle has the upstream layout with each release's checksum file, so an air-gapped inventory
        uses it with `artifacts: {source: local, directory: DIR}`.
        """)

    @OptionGroup var inventoryOption: InventoryOption

    @Option(name: .customLong("to"), help: "Directory to write the bundle into (created when missing).")
    var directory: String

    @Option(name: .customLong("arch"), help: "Release architecture (amd64 or arm64).")
    var architecture: String = "amd64"

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        guard let versions = ComponentVersions.defaults(for: inventory.kubernetesVersion) else {
            printError("error: no runtime versions known for Kubernetes \(inventory.kubernetesVersion.tag) (supported: \(SupportedVersions.kubernetesWindow))")
            throw ExitCode(1)
        }
        let artifacts = ReleaseCatalog.required(for: inventory, versions: versions, architecture: architecture)
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        do {
            let store = try ArtifactStore.releaseStore(for: inventory)
            let written = try await store.bundle(artifacts, into: target)
            for path in written { print(path) }
            print("\(artifacts.count) artifacts (\(written.count) files) in \(target); use it with artifacts: {source: local, directory: \(target)}")
        } catch let error as ArtifactError {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
