import Foundation
import Hosts

extension WorkflowContext {
    /// Whether `unit` on `host` is running with files older than these: it became active before one of `paths`
    /// was last modified. A run killed between writing a service's file and restarting the service leaves the
    /// file converged and the service on the old one; a re-run compares files only, so the rollouts whose
    /// safety rests on every service having loaded a step (the key rotations) ask this too. False when the
    /// unit is not active (starting it loads the files anyway) or the host cannot tell.
    public func runsOlderFiles(_ host: String, unit: String, paths: [String]) async throws -> Bool {
        let script = #"""
            since=$(systemctl show -p ActiveEnterTimestamp --value "$1" 2>/dev/null)
            [ -n "$since" ] || exit 0
            started=$(date -d "$since" +%s 2>/dev/null) || exit 0
            shift
            for f in "$@"; do
                [ -e "$f" ] && [ "$(stat -c %Y -- "$f")" -gt "$started" ] && { echo "$f"; exit 0; }
            done
            exit 0
            """#
        let result = try await reader(host).run(ShellCommand(["sh", "-c", script, "sh", unit] + paths), options: RunOptions(timeoutSeconds: 30))
        let newer = result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        if !newer.isEmpty { emit(.message, host: host, "\(unit) started before \(newer) last changed: it restarts to load it") }
        return !newer.isEmpty
    }
}
