import Foundation
import Hosts

/// Waits until an API server answers `/livez` and `/readyz` with 200, checked on the host itself with
/// curl and the cluster CA (so the serving certificate is verified for the address clients use).
public struct HealthGate: Sendable {
    public var timeoutSeconds: Double
    public var intervalSeconds: Double

    public init(timeoutSeconds: Double = 120, intervalSeconds: Double = 2) {
        self.timeoutSeconds = timeoutSeconds
        self.intervalSeconds = intervalSeconds
    }

    func wait(_ ctx: WorkflowContext, host: String, url: String, caFile: String) async throws {
        let connection = try await ctx.connection(host)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(timeoutSeconds * 1000)))
        var last = ""
        while true {
            var healthy = true
            for path in ["/livez", "/readyz"] {
                let result = try await connection.run(
                    ShellCommand("curl", "-fsS", "--max-time", "5", "--cacert", caFile, url + path),
                    options: RunOptions(timeoutSeconds: 10))
                if !result.succeeded {
                    healthy = false
                    last = "\(path): \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))"
                    break
                }
            }
            if healthy {
                await ctx.emit(.message, host: host, "\(url) /livez and /readyz answer 200")
                return
            }
            if clock.now >= deadline {
                throw WorkflowError.refused(
                    what: "continue to the next control-plane host",
                    found: "the API server on \(host) is not healthy after \(Int(timeoutSeconds)) s (\(last))",
                    next: "See `journalctl -u kube-apiserver` on \(host); the remaining hosts were not changed")
            }
            try await Task.sleep(nanoseconds: UInt64(intervalSeconds * 1_000_000_000))
        }
    }
}
