import ArgumentParser
import Foundation
import Hosts
import Inventory
import SSH

struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exec", abstract: "Run a command on inventory hosts, output prefixed by host name.", discussion: HelpExamples.discussion("exec"))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @OptionGroup var selection: HostSelection
    @Option(name: .long, help: "Fail a host's command after this many seconds.")
    var timeout: Double?
    @Argument(parsing: .postTerminator, help: "The command, after --.")
    var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("give the command after --, e.g. capstan exec -i inv.yaml -- uptime") }
    }

    func run() async throws {
        let (inventory, _) = try InventoryLoader.loadOrThrow(path: inventoryOption.inventory)
        let selected = try selection.hosts(in: inventory, path: inventoryOption.inventory)
        // One command line for the shell on every host: several arguments are quoted, a single one is a shell line.
        let line = command.count == 1 ? ShellCommand(["sh", "-c", command[0]]) : ShellCommand(command)
        if selection.dryRun { return print(selection.dryRunLine("run `\(line.line)` as root", on: selected)) }
        let connector = HostEndpoints.connector(for: inventory, transport: selection.transport)
        let json = outputOption.output == .json
        let options = RunOptions(timeoutSeconds: timeout, privileged: true)
        let outcomes = await FanOut.run(selected, limit: selection.concurrency, name: \.name) { spec in
            let endpoint = HostEndpoints.endpoint(for: spec, in: inventory)
            let connection = try await connector.connect(endpoint)
            defer { Task { await connection.close() } }
            if json { return try await connection.run(line, options: options) }
            let printer = LinePrinter(prefix: spec.name)
            let result = try await connection.stream(line, options: options) { printer.write($0) }
            printer.flush()
            return result
        }
        var failed = 0
        if json {
            let rows = outcomes.map { outcome -> [String: Any] in
                switch outcome.result {
                case .success(let r):
                    return ["host": outcome.host, "exitStatus": Int(r.exitStatus), "stdout": r.stdoutText, "stderr": r.stderrText]
                case .failure(let e):
                    return ["host": outcome.host, "error": String(describing: e)]
                }
            }
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
        for outcome in outcomes {
            switch outcome.result {
            case .success(let r):
                if !json {
                    for l in r.stderrText.split(separator: "\n") { FileHandle.standardError.write(Data("\(outcome.host) ! \(l)\n".utf8)) }
                    if r.exitStatus != 0 { FileHandle.standardError.write(Data("\(outcome.host): exit \(r.exitStatus)\n".utf8)) }
                }
                if r.exitStatus != 0 { failed += 1 }
            case .failure(let e):
                failed += 1
                if !json { FileHandle.standardError.write(Data("\(outcome.host): \(e)\n".utf8)) }
            }
        }
        await connector.closeAll()
        if failed > 0 {
            if !json { FileHandle.standardError.write(Data("\(failed) of \(outcomes.count) hosts failed\n".utf8)) }
            throw ExitCode(1)
        }
    }
}

/// Prints streamed output line by line, each line prefixed by the host name.
final class LinePrinter: @unchecked Sendable {
    private let prefix: String
    private let lock = NSLock()
    private var pending = Data()

    init(prefix: String) { self.prefix = prefix }

    func write(_ chunk: Data) {
        lock.withLock {
            pending.append(chunk)
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                emit(pending[pending.startIndex..<newline])
                pending = Data(pending[(newline + 1)...])
            }
        }
    }

    func flush() {
        lock.withLock {
            if !pending.isEmpty { emit(pending[...]) }
            pending = Data()
        }
    }

    private func emit(_ line: Data) {
        FileHandle.standardOutput.write(Data("\(prefix) | ".utf8) + line + Data("\n".utf8))
    }
}
