import ArgumentParser
import Foundation
import Hosts
import Inventory
import SSH

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a local file to inventory hosts.",
        discussion: HelpExamples.discussion("copy", "Each host gets the file atomically (a temporary file beside the target, then rename), with the given mode and owner, and its SHA-256 is checked against the bytes sent."))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var selection: HostSelection
    @Option(name: .long, help: "Permission bits of the remote file, in octal.")
    var mode: String = "644"
    @Option(name: .long, help: "Owner of the remote file: user or user:group (default: the SSH user).")
    var owner: String?
    @Argument(help: "The local file.")
    var localFile: String
    @Argument(help: "The absolute path of the file on each host.")
    var remotePath: String

    func validate() throws {
        guard let bits = UInt32(mode, radix: 8), bits <= 0o7777 else { throw ValidationError("--mode must be octal permission bits such as 644, not \(mode)") }
        guard remotePath.hasPrefix("/"), !remotePath.hasSuffix("/") else { throw ValidationError("the remote path must be absolute and name a file, not \(remotePath)") }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: localFile, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: localFile) else {
            throw ValidationError("\(localFile) is not a readable file")
        }
    }

    func run() async throws {
        let (inventory, _) = try InventoryLoader.loadOrThrow(path: inventoryOption.inventory)
        let selected = try selection.hosts(in: inventory, path: inventoryOption.inventory)
        let attributes = FileAttributes(mode: UInt32(mode, radix: 8) ?? 0o644, owner: owner)
        let size = (try? FileManager.default.attributesOfItem(atPath: localFile)[.size] as? Int) ?? 0
        if selection.dryRun {
            return print(selection.dryRunLine("copy \(localFile) (\(size) bytes) to \(remotePath), mode \(mode)\(owner.map { ", owner \($0)" } ?? "")", on: selected))
        }
        let connector = HostEndpoints.connector(for: inventory, transport: selection.transport)
        // The file's SHA-256 (which every host's copy is checked against) is computed once, while the first
        // connections are made, and the uploads find it computed.
        let file = localFile
        let digest = Task.detached { LocalFileDigest.sha256(of: file) }
        let outcomes = await FanOut.run(selected, limit: selection.concurrency, name: \.name) { spec in
            let connection = try await connector.connect(HostEndpoints.endpoint(for: spec, in: inventory))
            _ = await digest.value
            defer { Task { await connection.close() } }
            let start = Date()
            try await connection.upload(localFile: localFile, to: remotePath, attributes: attributes)
            return Date().timeIntervalSince(start)
        }
        var failed = 0
        for outcome in outcomes {
            switch outcome.result {
            case .success(let seconds):
                print("\(outcome.host): \(remotePath) (\(size) bytes, \(String(format: "%.2f", seconds)) s)")
            case .failure(let error):
                failed += 1
                FileHandle.standardError.write(Data("\(outcome.host): \(error)\n".utf8))
            }
        }
        await connector.closeAll()
        if failed > 0 {
            FileHandle.standardError.write(Data("\(failed) of \(outcomes.count) hosts failed\n".utf8))
            throw ExitCode(1)
        }
    }
}
