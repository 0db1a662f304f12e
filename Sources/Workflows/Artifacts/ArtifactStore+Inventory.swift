import Foundation
import Inventory

extension ArtifactStore {
    /// The store an inventory's `artifacts` section describes; the cache defaults to `~/.cache/capstan/artifacts`.
    public static func releaseStore(for inventory: Inventory) throws -> ArtifactStore {
        let spec = inventory.artifacts
        let origin: ArtifactOrigin
        switch spec.source {
        case .upstream:
            origin = .upstream
        case .mirror:
            guard let text = spec.url, let url = URL(string: text) else {
                throw ArtifactError.missing(what: "artifacts", location: spec.url ?? "(no url)", reason: "artifacts.source is mirror but artifacts.url is not a URL")
            }
            origin = .mirror(url)
        case .local:
            guard let directory = spec.directory else {
                throw ArtifactError.missing(what: "artifacts", location: "(no directory)", reason: "artifacts.source is local but artifacts.directory is not set")
            }
            origin = .localDirectory(InventoryLoader.resolve(directory, relativeTo: inventory.sourcePath))
        }
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        let cache = spec.cacheDirectory.map { InventoryLoader.resolve($0, relativeTo: inventory.sourcePath) } ?? home + "/.cache/capstan/artifacts"
        return ArtifactStore(origin: origin, cacheDirectory: cache)
    }
}
