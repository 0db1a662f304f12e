import Foundation
import Hosts

/// Installs verified binaries on a host when their SHA-256 differs; identical files are left alone.
enum BinaryInstaller {
    /// Returns the remote paths that were (or in plan mode would be) replaced.
    @discardableResult
    static func ensure(_ ctx: WorkflowContext, _ host: String, _ files: [InstallableFile]) async throws -> Set<String> {
        guard !files.isEmpty else { return [] }
        // What the phase's survey read is compared locally; binaries unchanged since Capstan recorded
        // their checksum are not hashed again.
        try await ctx.survey(host, largeFiles: files.map(\.remotePath))
        var present: [String: String] = [:]
        var unsurveyed: [InstallableFile] = []
        for file in files {
            if await ctx.isSurveyed(host, file.remotePath) {
                present[file.remotePath] = await ctx.surveyedChecksum(host, file.remotePath)
            } else {
                unsurveyed.append(file)
            }
        }
        if !unsurveyed.isEmpty {
            let connection = try await ctx.reader(host)
            // Missing files make sha256sum exit non-zero; the sums of those present are still printed.
            let sums = FactsParser.sha256sums(try await connection.run(ShellCommand(["sha256sum"] + unsurveyed.map(\.remotePath))).stdoutText)
            for file in unsurveyed { present[file.remotePath] = sums[file.remotePath] }
        }
        var changed: Set<String> = []
        for file in files where present[file.remotePath] != file.sha256 {
            let verb = present[file.remotePath] == nil ? "install" : "replace"
            try await ctx.installVerified(host, verb, localFile: file.localPath, sha256: file.sha256,
                                          to: file.remotePath, attributes: FileAttributes(mode: file.mode))
            changed.insert(file.remotePath)
        }
        // Installed now, or right but hashed because no record vouched for them: record them once.
        let unrecorded = await ctx.unrecordedFiles(host)
        var record: [String: String] = [:]
        for file in files where changed.contains(file.remotePath) || unrecorded.contains(file.remotePath) { record[file.remotePath] = file.sha256 }
        try await ctx.recordChecksums(host, record)
        return changed
    }
}

/// A systemd service with the files it reads: converged through `ensureUnits`, restarted also when
/// something it depends on changed elsewhere (a binary, a certificate shared with another unit).
struct ServiceSpec: Sendable {
    var unit: String
    var unitFile: ManagedFile
    var inputs: [ManagedFile]

    /// Every file the service's convergence compares, for the phase's survey.
    var paths: [String] { [unitFile.path] + inputs.map(\.path) }

    func managed(dependenciesChanged: Bool) -> ManagedUnit {
        ManagedUnit(unit: unit, unitFile: unitFile, inputs: inputs,
                    restartBecause: dependenciesChanged ? "its binary or certificates changed" : nil)
    }

    @discardableResult
    func ensure(_ ctx: WorkflowContext, _ host: String, dependenciesChanged: Bool) async throws -> UnitChange {
        try await Self.ensure(ctx, host, [(self, dependenciesChanged)])[0]
    }

    /// Several services of one host together: one survey, one daemon-reload, one enable.
    @discardableResult
    static func ensure(_ ctx: WorkflowContext, _ host: String, _ services: [(ServiceSpec, Bool)]) async throws -> [UnitChange] {
        let changes = try await ctx.ensureUnits(host, services.map { $0.0.managed(dependenciesChanged: $0.1) })
        guard changes.count == services.count else {
            throw WorkflowError.internalInvariant("converging \(services.map(\.0.unit).joined(separator: ", ")) on \(host) returned \(changes.count) result(s)")
        }
        return changes
    }
}
