import Foundation

/// Builds an OCI image archive without a registry or an image tool: an OCI image layout (`oci-layout`,
/// `index.json`, `blobs/sha256/…` with a config and one uncompressed layer tarball) packed with tar, every
/// digest computed here. What `skopeo copy … oci-archive:FILE:REF` writes has the same shape.
public enum OCIArchive {
    public struct Built: Sendable {
        public var path: String
        /// The manifest's digest: what `ctr images ls` lists for the imported image.
        public var manifestDigest: String
        /// SHA-256 of the archive file.
        public var sha256: String
    }

    /// `files`: path inside the image (e.g. `bin/busybox`) → local file copied there (mode kept).
    /// `annotations`: on the manifest's descriptor in index.json (e.g. `org.opencontainers.image.ref.name`).
    public static func build(at path: String, files: [String: String], annotations: [String: String],
                             command: [String] = ["/bin/busybox", "sh"]) throws -> Built {
        let fm = FileManager.default
        let work = path + ".work"
        try? fm.removeItem(atPath: work)
        let rootfs = work + "/rootfs", layout = work + "/layout", blobs = work + "/layout/blobs/sha256"
        try fm.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: work) }
        for (inside, local) in files.sorted(by: { $0.key < $1.key }) {
            let target = rootfs + "/" + inside
            try fm.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fm.copyItem(atPath: local, toPath: target)
        }
        try tool(["tar", "-C", rootfs, "--owner=0", "--group=0", "--numeric-owner", "--sort=name", "--mtime=@0", "-cf", work + "/layer.tar", "."])
        let layer = try blob(fromFile: work + "/layer.tar", into: blobs)
        let config: [String: Any] = [
            "architecture": "amd64", "os": "linux",
            "config": ["Cmd": command, "Env": ["PATH=/bin"]],
            "rootfs": ["type": "layers", "diff_ids": [layer.digest]],
        ]
        let configBlob = try blob(json: config, into: blobs)
        let manifest: [String: Any] = [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": ["mediaType": "application/vnd.oci.image.config.v1+json", "digest": configBlob.digest, "size": configBlob.size],
            "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.size]],
        ]
        let manifestBlob = try blob(json: manifest, into: blobs)
        var descriptor: [String: Any] = ["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifestBlob.digest,
                                         "size": manifestBlob.size, "platform": ["architecture": "amd64", "os": "linux"]]
        if !annotations.isEmpty { descriptor["annotations"] = annotations }
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [descriptor]]
        try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys]).write(to: URL(fileURLWithPath: layout + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: layout + "/oci-layout"))
        try? fm.removeItem(atPath: path)
        try tool(["tar", "-C", layout, "--owner=0", "--group=0", "--numeric-owner", "--sort=name", "--mtime=@0", "-cf", path, "oci-layout", "index.json", "blobs"])
        return Built(path: path, manifestDigest: manifestBlob.digest, sha256: try sha256(path))
    }

    public static func sha256(_ path: String) throws -> String {
        String(try tool(["sha256sum", path]).prefix(64))
    }

    private static func blob(fromFile file: String, into blobs: String) throws -> (digest: String, size: Int) {
        let hex = try sha256(file)
        let size = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        try? FileManager.default.removeItem(atPath: blobs + "/" + hex)
        try FileManager.default.copyItem(atPath: file, toPath: blobs + "/" + hex)
        return ("sha256:" + hex, size)
    }

    private static func blob(json: [String: Any], into blobs: String) throws -> (digest: String, size: Int) {
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        let staged = blobs + "/.staged"
        try data.write(to: URL(fileURLWithPath: staged))
        defer { try? FileManager.default.removeItem(atPath: staged) }
        return try blob(fromFile: staged, into: blobs)
    }

    @discardableResult
    private static func tool(_ arguments: [String]) throws -> String {
        let run = try runProgram(arguments)
        guard run.succeeded else {
            throw NSError(domain: "OCIArchive", code: Int(run.status), userInfo: [NSLocalizedDescriptionKey: "\(arguments.joined(separator: " ")): \(run.stderr)"])
        }
        return run.stdout
    }
}
