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
        discussion: HelpExamples.discussion("artifacts fetch", """
        The bundle has the upstream layout with each release's checksum file, so an air-gapped inventory
        uses it with `artifacts: {source: local, directory: DIR}`.

        Container images (the pause image, CoreDNS, the monitoring add-on's when enabled) go into
        DIR/images/ as OCI archives (`<registry>_<path>_<tag>.oci.tar`) listed with their SHA-256 in
        DIR/images/SHA256SUMS; `apply` imports them into containerd on every node. Capstan does not talk
        to registries: it copies the archives from --images-from (a directory or http(s) URL in the same
        layout: images/<file> and images/SHA256SUMS), else from the inventory's artifact source. Images
        it cannot get are listed with the command that fills them on a machine with registry access
        (skopeo copy docker://REF oci-archive:FILE:REF, then sha256sum FILE >> SHA256SUMS).
        """))

    @OptionGroup var inventoryOption: InventoryOption

    @Option(name: .customLong("to"), help: "Directory to write the bundle into (created when missing).")
    var directory: String

    @Option(name: .customLong("arch"), help: "Release architecture (amd64 or arm64).")
    var architecture: String = "amd64"

    @Option(name: .customLong("images-from"), help: "Directory or http(s) URL holding images/<file>.oci.tar and images/SHA256SUMS (default: the inventory's artifact source).")
    var imagesFrom: String?

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        // The versions apply installs: the minor's defaults with the inventory's spec.components pins.
        let versions: ComponentVersions
        do { versions = try ComponentVersions.resolve(for: inventory) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let artifacts = ReleaseCatalog.required(for: inventory, versions: versions, architecture: architecture)
        let target = URL(fileURLWithPath: directory).standardizedFileURL.path
        do {
            let store = try ArtifactStore.releaseStore(for: inventory)
            var written: [String] = []
            var bundled = 0
            for artifact in artifacts {
                do {
                    written += try await store.bundle([artifact], into: target).filter { !written.contains($0) }
                    bundled += 1
                } catch ArtifactError.missing(_, let location, let reason) where NodeArtifacts.optionalComponents.contains(artifact.component) {
                    // As apply does: nodes run without crictl (an operator's client), so its absence is a warning.
                    printError("warning: \(artifact.component) \(artifact.version) not bundled (\(location): \(reason))")
                }
            }
            let images = try await bundleImages(inventory: inventory, versions: versions, store: store, into: target)
            written += images.written
            for path in written { print(path) }
            print("\(bundled) of \(artifacts.count) artifacts and \(images.count - images.missing.count) of \(images.count) images (\(written.count) files) in \(target); use it with artifacts: {source: local, directory: \(target)}")
            if !images.missing.isEmpty {
                printError("warning: \(images.missing.count) image(s) not bundled; nodes will pull them from their registries. To add them, on a machine with registry access:")
                for reference in images.missing { printError("  " + ContainerImages.fillCommand(reference, bundle: target)) }
            }
        } catch let error as ArtifactError {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// The images the inventory needs, copied from --images-from or the inventory's artifact source.
    func bundleImages(inventory: Inventory, versions: ComponentVersions, store: ArtifactStore, into directory: String) async throws
        -> (count: Int, written: [String], missing: [ImageReference]) {
        var source = store
        if let imagesFrom {
            if imagesFrom.hasPrefix("http://") || imagesFrom.hasPrefix("https://"), let url = URL(string: imagesFrom) {
                source.origin = .mirror(url)
            } else {
                source.origin = .localDirectory(URL(fileURLWithPath: imagesFrom).standardizedFileURL.path)
            }
        }
        let references = ContainerImages.required(for: inventory, versions: versions).compactMap(ImageReference.init)
        let (written, missing) = try await source.bundleImages(references, into: directory)
        return (references.count, written, missing)
    }
}
