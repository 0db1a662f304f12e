import Foundation
import Hosts
import Inventory

/// A verified local file and where it goes on a host.
public struct InstallableFile: Sendable, Equatable {
    public var localPath: String
    public var remotePath: String
    public var mode: UInt32
    public var sha256: String

    public init(localPath: String, remotePath: String, mode: UInt32 = 0o755, sha256: String) {
        self.localPath = localPath
        self.remotePath = remotePath
        self.mode = mode
        self.sha256 = sha256
    }
}

/// Every binary a node install pushes, verified and unpacked on the control machine.
public struct NodeArtifacts: Sendable, Equatable {
    public var versions: ComponentVersions
    /// containerd (and its shims, ctr), runc, crictl, CNI plugins.
    public var runtime: [InstallableFile]
    /// kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy (those resolved).
    public var kubernetes: [String: InstallableFile]
    /// What the artifact source lacked but the install can do without (crictl), said once to the user.
    public var warnings: [String]
    /// Container images imported into containerd on every node (verified OCI archives from the source).
    public var images: [ImageArchive]
    /// Said once to the user without being a warning (a source that carries no images at all).
    public var notes: [String]

    public init(versions: ComponentVersions, runtime: [InstallableFile], kubernetes: [String: InstallableFile], warnings: [String] = [],
                images: [ImageArchive] = [], notes: [String] = []) {
        self.versions = versions
        self.runtime = runtime
        self.kubernetes = kubernetes
        self.warnings = warnings
        self.images = images
        self.notes = notes
    }

    /// Components a node runs without: crictl is an operator's debugging client, not part of the runtime.
    public static let optionalComponents: Set<String> = ["crictl"]

    public static let binDir = "/usr/local/bin"
    public static let runcPath = "/usr/local/sbin/runc"
    public static let cniBinDir = "/opt/cni/bin"

    /// The Kubernetes binaries named, or an error naming the first one missing.
    func binaries(_ names: [String]) throws -> [InstallableFile] {
        try names.map { name in
            guard let file = kubernetes[name] else {
                throw WorkflowError.internalInvariant("no \(name) binary was resolved for Kubernetes \(versions.kubernetes.tag): resolve the artifacts with NodeArtifacts.resolve for this inventory")
            }
            return file
        }
    }

    /// Fetches, verifies and unpacks what `inventory` needs (`ReleaseCatalog.required`, etcd excepted).
    public static func resolve(store: ArtifactStore, inventory: Inventory, versions: ComponentVersions, architecture: String = "amd64") async throws -> NodeArtifacts {
        var runtime: [InstallableFile] = []
        var kubernetes: [String: InstallableFile] = [:]
        var warnings: [String] = []
        for artifact in ReleaseCatalog.required(for: inventory, versions: versions, architecture: architecture) {
            switch artifact.kind {
            case .etcdArchive, .imageArchive:
                continue
            case .binary:
                let file = try await store.verified(artifact)
                if artifact.component == "runc" {
                    runtime.append(InstallableFile(localPath: file.path, remotePath: runcPath, sha256: file.sha256))
                } else {
                    kubernetes[artifact.component] = InstallableFile(localPath: file.path, remotePath: binDir + "/" + artifact.component, sha256: file.sha256)
                }
            case .tarball:
                let resolved: ResolvedArtifact
                do {
                    resolved = try await store.resolve(artifact)
                } catch ArtifactError.missing(_, let location, let reason) where optionalComponents.contains(artifact.component) {
                    warnings.append("\(artifact.component) \(artifact.version) is not in the artifact source (\(location): \(reason)); nodes get no \(artifact.component) binary, only /etc/crictl.yaml. Add \(artifact.relativePath) with its checksum file to install it")
                    continue
                }
                runtime += try installable(from: resolved)
            }
        }
        let (images, imageWarnings, notes) = try await resolveImages(store: store, inventory: inventory, versions: versions)
        return NodeArtifacts(versions: versions, runtime: runtime.sorted { $0.remotePath < $1.remotePath }, kubernetes: kubernetes,
                             warnings: warnings + imageWarnings, images: images, notes: notes)
    }

    /// The image archives of `ContainerImages.required`. A source with no image list at all (the upstream
    /// release sites, a directory of binaries only) leaves the images to the nodes' registries, said once;
    /// an archive missing from a source that lists images is a warning; one that fails its checksum or
    /// does not name its image stops the run.
    static func resolveImages(store: ArtifactStore, inventory: Inventory, versions: ComponentVersions) async throws
        -> (images: [ImageArchive], warnings: [String], notes: [String]) {
        let references = ContainerImages.required(for: inventory, versions: versions).compactMap(ImageReference.init)
        guard !references.isEmpty else { return ([], [], []) }
        if case .upstream = store.origin {
            return ([], [], ["container images are pulled by the nodes from their registries (artifacts.source upstream holds no image archives): \(references.map(\.description).joined(separator: ", "))"])
        }
        do {
            _ = try await store.fetch(relative: ContainerImages.checksumList, upstream: "")
        } catch let error as ArtifactError {
            guard case .missing = error else { throw error }
            return ([], [], ["the artifact source has no \(ContainerImages.checksumList): nodes pull \(references.map(\.description).joined(separator: ", ")) from their registries (see `capstan artifacts fetch --help` to bundle them)"])
        }
        var images: [ImageArchive] = []
        var warnings: [String] = []
        for reference in references {
            let artifact = ContainerImages.artifact(reference)
            do {
                images.append(try ImageArchive.inspect(try await store.verified(artifact), reference: reference))
            } catch ArtifactError.missing(_, let location, let reason) {
                warnings.append(missingImage(reference, artifact, why: "\(location): \(reason)"))
            } catch ArtifactError.notInChecksumList(let file, let list) {
                warnings.append(missingImage(reference, artifact, why: "\(file) is not listed in \(list)"))
            }
        }
        return (images, warnings, [])
    }

    private static func missingImage(_ reference: ImageReference, _ artifact: ReleaseArtifact, why: String) -> String {
        "image \(reference) is not in the artifact source (\(why)); nodes pull it from its registry. Add \(artifact.relativePath) with its line in \(ContainerImages.checksumList)"
    }

    /// Where the files of a runtime tarball go: containerd's `bin/*` and crictl to /usr/local/bin, the CNI
    /// plugins to /opt/cni/bin (their LICENSE and README stay behind).
    static func installable(from resolved: ResolvedArtifact) throws -> [InstallableFile] {
        var files: [InstallableFile] = []
        for (relative, local) in resolved.unpacked.sorted(by: { $0.key < $1.key }) {
            let name = (relative as NSString).lastPathComponent
            let target: String?
            switch resolved.artifact.component {
            case "containerd": target = relative.hasPrefix("bin/") ? binDir + "/" + name : nil
            case "crictl": target = name == "crictl" ? binDir + "/crictl" : nil
            case "cni-plugins": target = ["LICENSE", "README.md"].contains(name) ? nil : cniBinDir + "/" + name
            default: target = nil
            }
            guard let target else { continue }
            files.append(InstallableFile(localPath: local, remotePath: target, sha256: try ArtifactStore.sha256(ofFile: local)))
        }
        guard !files.isEmpty else {
            throw ArtifactError.unpackFailed(file: resolved.verified.path, reason: "it holds none of the files \(resolved.artifact.component) is installed from")
        }
        return files
    }
}
