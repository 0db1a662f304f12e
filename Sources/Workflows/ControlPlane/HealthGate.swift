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

    /// `https://ADDRESS:PORT`, an IPv6 address in brackets: how every gate and client list names a TLS endpoint.
    static func url(_ address: String, _ port: Int) -> String {
        address.contains(":") ? "https://[\(address)]:\(port)" : "https://\(address):\(port)"
    }

    func wait(_ ctx: WorkflowContext, host: String, url: String, caFile: String) async throws {
        let paths = ["/livez", "/readyz"]
        let checks = paths.map { ShellCommand("curl", "-fsS", "--max-time", "5", "--cacert", caFile, url + $0) }
        let failure = try await Self.poll(ctx, host: host, checks: checks, timeoutSeconds: timeoutSeconds, intervalSeconds: intervalSeconds) { i, result in
            "\(paths[i]): \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
        if let failure {
            throw WorkflowError.refused(
                what: "continue to the next control-plane host",
                found: "the API server on \(host) is not healthy after \(Int(timeoutSeconds)) s (\(failure))",
                next: "See `journalctl -u kube-apiserver` on \(host); the remaining hosts were not changed")
        }
        await ctx.emit(.message, host: host, "\(url) /livez and /readyz answer 200")
    }

    /// Runs `checks` on `host` in order, again every `intervalSeconds`, until all succeed in one round
    /// (nil) or `timeoutSeconds` have passed (the last round's first failure, as `describe` puts it).
    static func poll(_ ctx: WorkflowContext, host: String, checks: [ShellCommand], timeoutSeconds: Double, intervalSeconds: Double,
                     describe: (_ index: Int, _ result: CommandResult) -> String) async throws -> String? {
        let connection = try await ctx.reader(host)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(timeoutSeconds * 1000)))
        while true {
            var failure: String?
            for (i, check) in checks.enumerated() {
                let result = try await connection.run(check, options: RunOptions(timeoutSeconds: 15))
                if !result.succeeded {
                    failure = describe(i, result)
                    break
                }
            }
            guard let failure else { return nil }
            if clock.now >= deadline { return failure }
            try await Task.sleep(nanoseconds: UInt64(intervalSeconds * 1_000_000_000))
        }
    }
}
