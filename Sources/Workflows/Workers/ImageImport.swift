import Foundation
import Hosts

/// Imports the bundle's image archives into containerd's `k8s.io` namespace (the one the kubelet's CRI
/// reads) on a node: one listing per host; an image already listed under its name with the archive's
/// digest is left alone; a missing one is staged on the host (sent from this machine, or fetched from a node
/// that has it with peer transfer), its SHA-256 checked on the host against the bundle's checksum list,
/// imported with `ctr images import` and listed again to confirm name and digest.
enum ImageImport {
    static let namespace = "k8s.io"
    static var ctr: String { NodeArtifacts.binDir + "/ctr" }

    static var listCommand: ShellCommand {
        ShellCommand(ctr, "-n", namespace, "images", "ls")
    }

    /// name → digest of what containerd holds on `host`. Before containerd runs (a plan before the first
    /// apply) nothing is listed, so everything is planned; in apply a failing listing stops the host.
    static func listed(_ ctx: WorkflowContext, _ host: String) async throws -> [String: String] {
        let connection = try await ctx.reader(host)
        return try await ctx.readAfterEarlierChanges({
            try await list(connection, host)
        }, assuming: { error in
            // Only containerd's refusal means "not running yet"; a lost connection stays an error.
            guard error is WorkflowError else { throw error }
            return [:]
        })
    }

    private static func list(_ connection: any CommandRunner, _ host: String) async throws -> [String: String] {
        let result = try await connection.run(listCommand)
        guard result.exitStatus == 0 else {
            throw WorkflowError.hostFailed(host: host, what: "list containerd's images",
                                           reason: "`ctr -n \(namespace) images ls` exited \(result.exitStatus): \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))",
                                           next: "check `systemctl status containerd` there")
        }
        return ContainerdImageList.parse(result.stdoutText)
    }

    static func ensure(_ ctx: WorkflowContext, _ host: String, _ images: [ImageArchive]) async throws {
        guard !images.isEmpty else { return }
        let present = try await listed(ctx, host)
        for image in images where present[image.reference.description] != image.digest {
            let was = present[image.reference.description].map { " (containerd has \($0.prefix(19))…)" } ?? ""
            try await ctx.change(host, "import image \(image.reference) (\(image.digest.prefix(19))…) from \(image.fileName)\(was)") { c in
                try await importArchive(image, host: host, on: c, reporting: ctx)
            }
        }
    }

    static func importArchive(_ image: ImageArchive, host: String, on c: any HostConnection, reporting ctx: WorkflowContext) async throws {
        let staged = image.stagingPath
        let attributes = FileAttributes(mode: 0o600)
        try await c.check(ShellCommand("mkdir", "-p", "-m", "0700", (staged as NSString).deletingLastPathComponent))
        // From a node that has it already when peer transfer is on (the fetch checks the SHA-256 there before the
        // copy is in place), else from this machine; a node that then serves the copy keeps it until the phase ends.
        let serving = try await ctx.stageVerified(host, on: c, sha256: image.sha256, size: ByteCount.size(ofLocalFile: image.localPath) ?? 0,
                                                  to: staged, attributes: attributes) {
            try await c.upload(localFile: image.localPath, to: image.stagingPath, attributes: attributes, reporting: ctx, host: host)
            let sum = try await c.run(ShellCommand("sha256sum", staged))
            let onHost = sum.stdoutText.split(separator: " ").first.map(String.init) ?? ""
            guard onHost == image.sha256 else {
                _ = try? await c.run(ShellCommand("rm", "-f", staged))
                throw WorkflowError.refused(
                    what: "import \(image.fileName) on \(host)",
                    found: "the archive on \(host) (\(image.stagingPath)) has SHA-256 \(onHost.isEmpty ? "(unreadable)" : onHost), the bundle's \(ContainerImages.checksumList) says \(image.sha256)",
                    next: "Nothing was imported. The copy was changed on the way or on the host; check the host's disk and the connection, then run apply again")
            }
        }
        let imported = try await c.run(ShellCommand(ctr, "-n", namespace, "images", "import",
                                                    "--base-name", image.reference.repository, staged))
        if !serving { _ = try? await c.run(ShellCommand("rm", "-f", staged)) }
        guard imported.exitStatus == 0 else {
            throw WorkflowError.unexpectedAnswer("`ctr -n \(namespace) images import` of \(image.fileName) failed on \(host) (exit \(imported.exitStatus)): \(imported.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let after = ContainerdImageList.parse(try await c.check(listCommand).stdoutText)
        guard after[image.reference.description] == image.digest else {
            throw WorkflowError.unexpectedAnswer("after importing \(image.fileName) on \(host), containerd lists \(image.reference) as \(after[image.reference.description] ?? "absent"), not \(image.digest): the archive's index.json does not name the image the way containerd imports it")
        }
    }
}
