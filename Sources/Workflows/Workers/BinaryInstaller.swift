import Foundation
import Hosts

/// Installs verified binaries on a host when their SHA-256 differs; identical files are left alone.
enum BinaryInstaller {
    /// Returns the remote paths that were (or in plan mode would be) replaced.
    @discardableResult
    static func ensure(_ ctx: WorkflowContext, _ host: String, _ files: [InstallableFile]) async throws -> Set<String> {
        guard !files.isEmpty else { return [] }
        let connection = try await ctx.connection(host)
        let mapped = files.map { HostPath.forCommand($0.remotePath, on: connection) }
        // Missing files make sha256sum exit non-zero; the sums of those present are still printed.
        let result = try await connection.run(ShellCommand(["sha256sum"] + mapped))
        let present = FactsParser.sha256sums(result.stdoutText)
        var changed: Set<String> = []
        for (file, path) in zip(files, mapped) where present[path] != file.sha256 {
            let verb = present[path] == nil ? "install" : "replace"
            try await ctx.change(host, "\(verb) \(file.remotePath) (sha256 \(file.sha256.prefix(12)))") { c in
                try await c.upload(localFile: file.localPath, to: file.remotePath, attributes: FileAttributes(mode: file.mode))
            }
            changed.insert(file.remotePath)
        }
        return changed
    }
}

/// A systemd service with the files it reads: converged through `ensureUnit`, restarted also when
/// something it depends on changed elsewhere (a binary, a certificate shared with another unit).
struct ServiceSpec: Sendable {
    var unit: String
    var unitFile: ManagedFile
    var inputs: [ManagedFile]

    @discardableResult
    func ensure(_ ctx: WorkflowContext, _ host: String, dependenciesChanged: Bool) async throws -> UnitChange {
        var change = try await ctx.ensureUnit(host, unit: unit, unitFile: unitFile, inputs: inputs)
        if dependenciesChanged, !change.started, !change.restarted {
            change.restarted = try await ctx.change(host, "systemctl restart \(unit) (its binary or certificates changed)") { c in
                try await c.check(ShellCommand("systemctl", "restart", unit))
            }
        }
        return change
    }
}
