import Foundation
import Hosts

/// A service that comes with a distribution package and its own unit (haproxy, keepalived): Capstan
/// installs the package when missing, writes the configuration, and applies a change with `systemctl
/// reload` — never a restart, so the service keeps its connections and its state.
struct PackagedService: Sendable {
    var package: String
    /// The command the package provides, to tell whether it is installed.
    var command: String
    var unit: String
    /// What the service is for, in errors.
    var purpose: String
    /// Checks a configuration before it is loaded (e.g. `haproxy -c -f …`); nil for none.
    var configCheck: ShellCommand?

    /// Installs the package from the host's own repositories; a host whose package manager cannot
    /// (none, or offline) stops here with what to do.
    func installIfMissing(_ ctx: WorkflowContext, host: String) async throws {
        let c = try await ctx.reader(host)
        let probe = try await c.run(ShellCommand(["sh", "-c", "command -v \(command) >/dev/null && echo present; command -v apt-get >/dev/null && echo apt; true"]))
        let found = Set(probe.stdoutText.split(separator: "\n").map(String.init))
        if found.contains("present") { return }
        let offline = "install the \(package) package on \(host) from your distribution (an offline host: a local repository, or the package file installed with dpkg -i or rpm -i), then run the command again"
        guard found.contains("apt") else {
            throw WorkflowError.hostFailed(host: host, what: "install \(package) for \(purpose)", reason: "\(command) is not installed and the host has no apt-get", next: offline)
        }
        try await ctx.change(host, "install \(package) (apt-get install \(package))") { c in
            let options = RunOptions(timeoutSeconds: 600, environment: ["DEBIAN_FRONTEND": "noninteractive"])
            let result = try await c.run(ShellCommand("apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=120", package), options: options)
            guard result.succeeded else {
                let tail = result.stderrText.split(separator: "\n").suffix(3).joined(separator: " / ")
                throw WorkflowError.hostFailed(host: host, what: "install \(package) for \(purpose)", reason: "apt-get install \(package) failed (exit \(result.exitStatus)): \(tail)", next: offline)
            }
        }
    }

    /// Enables the unit, starts it when it is not running, reloads it when `changed` names what changed.
    func converge(_ ctx: WorkflowContext, host: String, changed: String?) async throws {
        let state = try await ctx.unitStates(host, [unit])[unit]
        if !(state?.isEnabled ?? false) {
            try await ctx.change(host, "systemctl enable \(unit)", affecting: []) { c in
                try await c.check(ShellCommand("systemctl", "enable", unit))
            }
        }
        if !(state?.isRunning ?? false) {
            try await ctx.change(host, "systemctl start \(unit)", affecting: []) { [configCheck] c in
                if let configCheck { try await c.check(configCheck) }
                try await c.check(ShellCommand("systemctl", "start", unit))
            }
        } else if let changed {
            try await ctx.change(host, "systemctl reload \(unit) (\(changed) changed)", affecting: []) { [configCheck] c in
                if let configCheck { try await c.check(configCheck) }
                try await c.check(ShellCommand("systemctl", "reload", unit))
            }
        }
    }
}
