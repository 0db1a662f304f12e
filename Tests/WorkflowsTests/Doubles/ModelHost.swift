import Foundation
import Hosts
import Testing

/// What a scripted host model answers for one host: its command lines, and its files when it models them.
/// A model that does not model files leaves the defaults, under which any file transfer fails the test.
protocol HostModel: AnyObject, Sendable {
    func answer(_ host: String, _ line: String) -> CommandResult
    func write(_ host: String, _ data: Data, to path: String)
    func read(_ host: String, _ path: String) -> Data?
}

extension HostModel {
    func write(_ host: String, _ data: Data, to path: String) { Issue.record("no file write expected on \(host): \(path)") }
    func read(_ host: String, _ path: String) -> Data? {
        Issue.record("no file read expected on \(host): \(path)")
        return nil
    }
}

/// Test double: a host whose commands and files a `HostModel` answers; nothing runs on this machine, and
/// uploads and downloads fail the test.
struct ModelHost: HostConnection {
    let hostName: String
    let model: any HostModel

    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        let result = model.answer(hostName, command.line)
        try await onStdout(result.stdout)
        return CommandResult(exitStatus: result.exitStatus, stdout: Data(), stderr: result.stderr)
    }
    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws { model.write(hostName, data, to: path) }
    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws { Issue.record("no upload expected on \(hostName): \(path)") }
    func read(_ path: String) async throws -> Data? { model.read(hostName, path) }
    func download(_ path: String, toLocalFile localPath: String) async throws { Issue.record("no download expected on \(hostName): \(path)") }
    func close() async {}
}

/// Test double: connects each host to its model; a host without one fails the test.
struct ModelConnector: HostConnector {
    let model: @Sendable (String) -> (any HostModel)?

    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        guard let found = model(endpoint.name) else {
            Issue.record("connection to \(endpoint.name), which this test does not touch")
            throw HostError.unsupported(host: endpoint.name, reason: "not modelled")
        }
        return ModelHost(hostName: endpoint.name, model: found)
    }
}
