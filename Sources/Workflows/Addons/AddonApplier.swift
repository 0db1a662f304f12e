import Foundation
import Hosts

/// Applies rendered manifests with kubectl on this machine, after checking that the cluster answers.
public struct AddonApplier: Sendable {
    /// Runs kubectl (a `LocalConnection` in the CLI).
    public var runner: any CommandRunner
    public var kubeconfig: String
    public var kubectl: String
    public var timeoutSeconds: Double

    public init(runner: any CommandRunner, kubeconfig: String, kubectl: String = "kubectl", timeoutSeconds: Double = 10) {
        self.runner = runner
        self.kubeconfig = kubeconfig
        self.kubectl = kubectl
        self.timeoutSeconds = timeoutSeconds
    }

    var base: [String] { [kubectl, "--kubeconfig", kubeconfig] }

    /// Fails with the reason when the API server does not answer `/readyz` (what kubectl printed).
    public func requireReachable() async throws {
        guard FileManager.default.isReadableFile(atPath: kubeconfig) else {
            throw WorkflowError.namedFile("cannot apply add-ons: kubeconfig \(kubeconfig) is missing or unreadable; run `capstan apply -i …` (it writes the admin kubeconfig) or pass --kubeconfig")
        }
        let command = ShellCommand(base + ["--request-timeout=\(Int(timeoutSeconds))s", "get", "--raw", "/readyz"])
        let result: CommandResult
        do {
            result = try await runner.run(command, options: RunOptions(timeoutSeconds: timeoutSeconds + 5, privileged: false))
        } catch {
            throw WorkflowError.unexpectedAnswer("cannot apply add-ons: running kubectl failed: \(error); install kubectl or put it on PATH", cause: error)
        }
        guard result.succeeded else {
            let reason = Self.lastLine(result.stderrText) ?? "exit status \(result.exitStatus)"
            var missing = result.exitStatus == 127 ? " (kubectl not found: install it or put it on PATH)" : ""
            if (result.stdoutText + result.stderrText).contains("Please enter Username") { missing = " (the kubeconfig has no client credentials)" }
            throw WorkflowError.unexpectedAnswer("cannot apply add-ons: the cluster does not answer (kubectl get --raw /readyz with \(kubeconfig): \(reason))\(missing); bring the control plane up (`capstan status -i …`) and retry, or use `capstan addons render` and apply later")
        }
    }

    /// `kubectl apply -f -` with every manifest; returns kubectl's summary lines. `dryRun`: the API server
    /// validates and admits every object without storing it (`--dry-run=server`; kubectl marks each line).
    public func apply(_ manifests: AddonManifests, dryRun: Bool = false) async throws -> String {
        try await requireReachable()
        let result = try await runner.run(
            ShellCommand(base + ["apply"] + (dryRun ? ["--dry-run=server"] : []) + ["-f", "-"]),
            options: RunOptions(timeoutSeconds: 120, privileged: false, stdin: Data(manifests.combined.utf8)))
        guard result.succeeded else {
            throw WorkflowError.unexpectedAnswer("kubectl apply of the add-on manifests failed (exit \(result.exitStatus)): \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return result.stdoutText
    }

    static func lastLine(_ text: String) -> String? {
        text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}
