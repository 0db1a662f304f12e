import Foundation
import Inventory
import Templates

/// A container image reference split the way containerd names images: `docker.io/library/busybox:1.36`.
public struct ImageReference: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `registry.k8s.io/pause`, `docker.io/prom/prometheus` (normalized: registry first).
    public var repository: String
    public var tag: String?
    /// `sha256:…` when the reference pins a digest.
    public var digest: String?

    /// Parses and normalizes as containerd's reference package does: a first component without a dot or
    /// a colon (and not `localhost`) is a Docker Hub path, and a single Docker Hub name is under `library/`.
    public init?(_ text: String) {
        guard Syntax.isImageReference(text) else { return nil }
        var name = Substring(text)
        if let at = name.range(of: "@") {
            digest = String(name[at.upperBound...])
            name = name[..<at.lowerBound]
        }
        let lastSlash = name.lastIndex(of: "/")
        let lastPart = lastSlash.map { name[name.index(after: $0)...] } ?? name
        if let colon = lastPart.lastIndex(of: ":") {
            tag = String(lastPart[lastPart.index(after: colon)...])
            name = name[..<colon]
        }
        var parts = name.split(separator: "/").map(String.init)
        if let first = parts.first, parts.count == 1 || !(first.contains(".") || first.contains(":") || first == "localhost") {
            parts.insert("docker.io", at: 0)
        }
        if parts.first == "docker.io", parts.count == 2 { parts.insert("library", at: 1) }
        repository = parts.joined(separator: "/")
    }

    /// The registry host the reference is pulled from (`registry.k8s.io`, `docker.io`, `mirror:5000`).
    public var registry: String { String(repository.split(separator: "/").first ?? "") }

    /// The full normalized name containerd lists: `repository:tag` and/or `@digest`.
    public var description: String {
        repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// The file name of the image's OCI archive in a bundle: the normalized name with `/`, `:` and `@` as `_`.
    public var archiveName: String {
        String(description.map { "/:@".contains($0) ? "_" : $0 }) + ".oci.tar"
    }
}

/// The images a cluster's nodes need and where their archives sit in an artifact source: the pause
/// (sandbox) image on every node; for a self-managed cluster CoreDNS when cluster DNS is on and the
/// monitoring add-on's images when it is enabled.
public enum ContainerImages {
    /// `images/` beside the release directories, with one `SHA256SUMS` for every archive in it.
    public static let directory = "images"
    public static let checksumList = directory + "/SHA256SUMS"

    /// Every image reference `inventory` runs, in a stable order, without duplicates.
    public static func required(for inventory: Inventory, versions: ComponentVersions) -> [String] {
        var images = [versions.sandboxImage]
        if inventory.isSelfManaged {
            if inventory.addons.dns.enabled {
                images.append(inventory.addons.dns.image ?? SupportedVersions.coreDNSImage(for: inventory.kubernetesVersion))
            }
            if inventory.addons.monitoring {
                images += MonitoringContext.images
            }
        }
        var seen = Set<String>()
        return images.filter { seen.insert($0).inserted }
    }

    /// The archive of `reference` in the bundle layout. Images have no release URL: Capstan reads them from
    /// a local directory or an HTTP mirror in this layout, never from a registry.
    public static func artifact(_ reference: ImageReference) -> ReleaseArtifact {
        ReleaseArtifact(component: reference.description, version: reference.tag ?? reference.digest ?? "", kind: .imageArchive,
                        relativePath: directory + "/" + reference.archiveName, checksumRelativePath: checksumList,
                        upstreamURL: "", checksumUpstreamURL: "")
    }

    /// What an operator runs to put `reference` into the bundle at `bundle` (a machine with registry access).
    public static func fillCommand(_ reference: ImageReference, bundle: String) -> String {
        "skopeo copy docker://\(reference) oci-archive:\(bundle)/\(directory)/\(reference.archiveName):\(reference) && (cd \(bundle)/\(directory) && sha256sum \(reference.archiveName) >> SHA256SUMS)"
    }
}

/// A verified OCI image archive and the image containerd will list after importing it.
public struct ImageArchive: Sendable, Equatable {
    public var reference: ImageReference
    public var localPath: String
    public var fileName: String
    /// SHA-256 of the archive file (its line in `images/SHA256SUMS`).
    public var sha256: String
    /// The digest containerd lists for the image: its manifest (or index) descriptor in `index.json`.
    public var digest: String

    public init(reference: ImageReference, localPath: String, fileName: String, sha256: String, digest: String) {
        self.reference = reference
        self.localPath = localPath
        self.fileName = fileName
        self.sha256 = sha256
        self.digest = digest
    }

    /// Where the archive is staged on a host while it is imported (removed afterwards).
    public var stagingPath: String { "/var/lib/capstan/images/" + fileName }

    /// Reads `index.json` from a verified archive and finds the descriptor containerd will name
    /// `reference` when importing with `--base-name <repository>`.
    public static func inspect(_ file: VerifiedArtifact, reference: ImageReference) throws -> ImageArchive {
        let index = try ArtifactStore.tarMember(file.path, "index.json")
        let digest = try OCIIndex.digest(of: index, naming: reference, archive: file.fileName)
        return ImageArchive(reference: reference, localPath: file.path, fileName: file.fileName, sha256: file.sha256, digest: digest)
    }
}

/// The parts of an OCI image layout's `index.json` Capstan reads.
public enum OCIIndex {
    public static let containerdName = "io.containerd.image.name"
    public static let refName = "org.opencontainers.image.ref.name"

    /// The name `ctr images import --base-name <base>` gives a descriptor with these annotations (nil: not
    /// imported under a name): containerd's own name annotation as it is; a full reference in the OCI
    /// ref.name only when it is under `base`; a bare tag appended to `base` (containerd's archive importer,
    /// `imageName` and `refTranslator` in images/archive).
    public static func importedName(annotations: [String: String], base: String) -> String? {
        if let name = annotations[containerdName], !name.isEmpty { return name }
        guard let ref = annotations[refName], !ref.isEmpty else { return nil }
        if ref.contains(where: { "/:@".contains($0) }) {
            return ref.hasPrefix(base + ":") || ref.hasPrefix(base + "@") ? ref : nil
        }
        return base + ":" + ref
    }

    /// The digest of the descriptor in `index` that imports as `reference`, or an error saying what the
    /// archive names instead.
    public static func digest(of index: Data, naming reference: ImageReference, archive: String) throws -> String {
        guard let object = try? JSONSerialization.jsonObject(with: index) as? [String: Any],
              let manifests = object["manifests"] as? [[String: Any]] else {
            throw ArtifactError.unpackFailed(file: archive, reason: "its index.json is not an OCI image index (no manifests list)")
        }
        var names: [String] = []
        for descriptor in manifests {
            let annotations = descriptor["annotations"] as? [String: String] ?? [:]
            guard let name = importedName(annotations: annotations, base: reference.repository) else { continue }
            names.append(name)
            if ImageReference(name) == reference, let digest = descriptor["digest"] as? String,
               digest.hasPrefix("sha256:"), digest.count == 71 {
                return digest
            }
        }
        throw ArtifactError.unpackFailed(file: archive, reason: "its index.json does not name \(reference) (it names \(names.isEmpty ? "no image" : names.joined(separator: ", "))); write the archive with the full name, e.g. `skopeo copy docker://\(reference) oci-archive:\(archive):\(reference)`")
    }
}

/// `ctr -n k8s.io images ls` output: image name → digest.
public enum ContainerdImageList {
    public static func parse(_ text: String) -> [String: String] {
        var images: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, fields[0] != "REF", fields[2].hasPrefix("sha256:") else { continue }
            images[String(fields[0])] = String(fields[2])
        }
        return images
    }
}

extension ArtifactStore {
    /// Copies the archives of `references` that this origin holds into `directory`/images/ (each verified
    /// against the origin's list and its index.json checked to name the image) and writes
    /// images/SHA256SUMS listing exactly the archives bundled. Returns the relative paths written and the
    /// references the origin lacks; a mismatching checksum or a misnamed archive is an error.
    public func bundleImages(_ references: [ImageReference], into directory: String) async throws -> (written: [String], missing: [ImageReference]) {
        var written: [String] = []
        var missing: [ImageReference] = []
        var sums: [String] = []
        for reference in references {
            let artifact = ContainerImages.artifact(reference)
            let archive: ImageArchive
            do {
                archive = try ImageArchive.inspect(try await verified(artifact), reference: reference)
            } catch ArtifactError.missing {
                missing.append(reference)
                continue
            } catch ArtifactError.notInChecksumList {
                missing.append(reference)
                continue
            }
            guard let data = FileManager.default.contents(atPath: archive.localPath) else {
                throw ArtifactError.missing(what: archive.fileName, location: archive.localPath, reason: "the cached file vanished")
            }
            try ArtifactStore.writeAtomically(data, to: directory + "/" + artifact.relativePath, cache: directory)
            written.append(artifact.relativePath)
            sums.append("\(archive.sha256)  \(archive.fileName)\n")
        }
        if !sums.isEmpty {
            try ArtifactStore.writeAtomically(Data(sums.joined().utf8), to: directory + "/" + ContainerImages.checksumList, cache: directory)
            written.append(ContainerImages.checksumList)
        }
        return (written, missing)
    }
}
