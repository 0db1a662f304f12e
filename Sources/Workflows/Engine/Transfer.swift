import Foundation
import Hosts

/// Sizes and rates as the progress output shows them (binary units: 1 MiB = 1,048,576 bytes).
public enum ByteCount {
    public static func text(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// `sent 45.2 MiB in 1.2s (37.7 MiB/s)`.
    public static func sent(_ n: Int64, seconds: Double) -> String {
        let rate = seconds > 0 ? " (\(text(Int64(Double(n) / seconds)))/s)" : ""
        return "sent \(text(n)) in \(String(format: "%.1f", seconds))s\(rate)"
    }

    /// The size of a local file, nil when it cannot be read.
    public static func size(ofLocalFile path: String) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }
}

extension HostConnection {
    /// `upload`, then the bytes and the rate on `host`'s progress line (and in the log without a terminal).
    func upload(localFile: String, to path: String, attributes: FileAttributes, reporting ctx: WorkflowContext, host: String) async throws {
        let started = Date()
        try await upload(localFile: localFile, to: path, attributes: attributes)
        if let size = ByteCount.size(ofLocalFile: localFile) {
            await ctx.emit(.hostStatus, host: host, "\(path): " + ByteCount.sent(size, seconds: Date().timeIntervalSince(started)))
            await ctx.countUpload(size)
        }
    }
}

extension WorkflowContext {
    /// A file this machine sent to a host (for the run's `transferTally`).
    func countUpload(_ bytes: Int64) {
        uploadTally.operatorBytes += bytes
        uploadTally.operatorFiles += 1
    }

    /// One change that uploads `localFile` to `path` on `host`: `"\(action) \(path) (\(detail), SIZE)"`, then
    /// the bytes sent and the rate in the host's progress.
    public func upload(_ host: String, _ action: String, detail: String, localFile: String, to path: String,
                       attributes: FileAttributes, diff: String? = nil) async throws {
        let size = ByteCount.size(ofLocalFile: localFile).map { ", \(ByteCount.text($0))" } ?? ""
        try await change(host, "\(action) \(path) (\(detail)\(size))", diff: diff, affecting: [path]) { c in
            try await c.upload(localFile: localFile, to: path, attributes: attributes, reporting: self, host: host)
        }
    }
}
