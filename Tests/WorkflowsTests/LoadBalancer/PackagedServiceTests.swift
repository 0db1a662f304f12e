import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

/// A host whose commands are answered from a script and recorded; nothing runs on this machine (the
/// install step would otherwise call this machine's apt-get).
struct ScriptedHost: HostConnection {
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    let hostName: String
    let log: Log
    let answer: @Sendable (String) -> CommandResult

    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        log.append(command.line)
        let result = answer(command.line)
        try await onStdout(result.stdout)
        return CommandResult(exitStatus: result.exitStatus, stderr: result.stderr)
    }
    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws { log.append("write \(path)") }
    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws { log.append("upload \(path)") }
    func read(_ path: String) async throws -> Data? { nil }
    func download(_ path: String, toLocalFile localPath: String) async throws {}
    func close() async {}
}

struct ScriptedConnector: HostConnector {
    let log: ScriptedHost.Log
    let answer: @Sendable (String) -> CommandResult
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection { ScriptedHost(hostName: endpoint.name, log: log, answer: answer) }
}

@Suite("Packaged services (haproxy, keepalived): install when missing, or say how", .tags(.unit))
struct PackagedServiceTests {
    func context(_ mode: WorkflowMode, log: ScriptedHost.Log, answer: @escaping @Sendable (String) -> CommandResult) -> WorkflowContext {
        WorkflowContext(mode: mode, connector: ScriptedConnector(log: log, answer: answer),
                        endpoints: [HostEndpoint(name: "w1", address: "192.0.2.1", authentication: [.agent], knownHostsFile: "/dev/null")],
                        output: CollectingOutput(), now: { Date() })
    }

    @Test("installed: nothing to do")
    func present() async throws {
        let log = ScriptedHost.Log()
        let ctx = context(.apply, log: log) { _ in CommandResult(exitStatus: 0, stdout: Data("present\napt\n".utf8)) }
        try await NodeBalancer.service.installIfMissing(ctx, host: "w1")
        #expect(await ctx.actions.isEmpty)
        #expect(!log.all.contains { $0.contains("apt-get install") })
    }

    @Test("missing with apt-get: plan names the install, apply runs it")
    func installs() async throws {
        let log = ScriptedHost.Log()
        let planned = context(.plan, log: log) { _ in CommandResult(exitStatus: 0, stdout: Data("apt\n".utf8)) }
        try await NodeBalancer.service.installIfMissing(planned, host: "w1")
        #expect(await planned.actions.map(\.description) == ["install haproxy (apt-get install haproxy)"])
        func installCommands() -> [String] { log.all.filter { $0.contains("apt-get") && $0.contains("install") && !$0.contains("command -v") } }
        #expect(installCommands().isEmpty, "plan ran \(installCommands())")
        let applied = context(.apply, log: log) { _ in CommandResult(exitStatus: 0, stdout: Data("apt\n".utf8)) }
        try await NodeBalancer.service.installIfMissing(applied, host: "w1")
        #expect(installCommands().count == 1 && installCommands()[0].contains("haproxy"), "\(log.all)")
    }

    @Test("missing and the repositories unreachable: the error names the host, the package and the offline fix")
    func offline() async throws {
        let log = ScriptedHost.Log()
        let ctx = context(.apply, log: log) { line in
            line.contains("install") && !line.contains("command -v")
                ? CommandResult(exitStatus: 100, stderr: Data("E: Unable to locate package keepalived\n".utf8))
                : CommandResult(exitStatus: 0, stdout: Data("apt\n".utf8))
        }
        let error = await #expect(throws: WorkflowError.self) { try await ControlPlaneVIP.service.installIfMissing(ctx, host: "w1") }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("w1") && text.contains("Unable to locate package keepalived") && text.contains("dpkg -i"), "\(text)")
    }

    @Test("missing and no apt-get: stops before any change with the package to provide")
    func noPackageManager() async throws {
        let log = ScriptedHost.Log()
        let ctx = context(.plan, log: log) { _ in CommandResult(exitStatus: 0, stdout: Data()) }
        let error = await #expect(throws: WorkflowError.self) { try await NodeBalancer.service.installIfMissing(ctx, host: "w1") }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("haproxy package") && text.contains("no apt-get") && text.contains("w1"), "\(text)")
        #expect(await ctx.actions.isEmpty)
    }
}
