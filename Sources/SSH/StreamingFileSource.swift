import Foundation
import Hosts

/// A transport that can stream a remote file's bytes; `read` and `download` are written once on top of it
/// for both the libssh2 and the OpenSSH connection.
protocol StreamingFileSource: Sendable {
    var hostName: String { get }
    /// Streams the file's bytes to `sink`; false when it does not exist.
    func streamFile(_ path: String, into sink: @escaping @Sendable (Data) throws -> Void) async throws -> Bool
}

extension StreamingFileSource {
    /// The whole file, or nil when it does not exist.
    func readStreamed(_ path: String) async throws -> Data? {
        let collected = CollectedData()
        guard try await streamFile(path, into: { collected.append($0) }) else { return nil }
        return collected.data
    }

    /// Downloads into `localPath` through a partial file renamed at the end: never a half-written file.
    func downloadStreamed(_ path: String, toLocalFile localPath: String) async throws {
        let partial = localPath + ".capstan-partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: partial)
        else {
            throw HostError.transferFailed(host: hostName, path: path, reason: "cannot create the local file \(partial)")
        }
        do {
            let found = try await streamFile(path) { try handle.write(contentsOf: $0) }
            try handle.close()
            guard found else { throw HostError.transferFailed(host: hostName, path: path, reason: "the remote file does not exist") }
            _ = try? FileManager.default.removeItem(atPath: localPath)
            try FileManager.default.moveItem(atPath: partial, toPath: localPath)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }
}
