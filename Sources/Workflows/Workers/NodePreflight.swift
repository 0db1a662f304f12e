import Foundation
import Hosts

/// What a node must offer before Capstan installs Kubernetes on it.
public struct PreflightRequirements: Sendable, Equatable {
    /// `ID`/`ID_LIKE` values of os-release accepted.
    public var operatingSystems: Set<String>
    /// Release architecture (`amd64`, `arm64`); `uname -m` is mapped to it.
    public var architecture: String
    /// Commands that must be on the PATH; a missing one is an error.
    public var requiredCommands: [String]
    /// Commands Kubernetes uses at run time; a missing one is a warning.
    public var recommendedCommands: [String]
    /// Largest accepted difference between a host's clock and the control machine's, in seconds.
    public var maxClockSkewSeconds: Double

    public init(
        operatingSystems: Set<String> = ["debian", "ubuntu", "rhel", "centos", "rocky", "almalinux", "fedora"],
        architecture: String = "amd64",
        requiredCommands: [String] = ["systemctl", "sha256sum"],
        recommendedCommands: [String] = ["iptables", "modprobe", "sysctl", "mount"],
        maxClockSkewSeconds: Double = 5
    ) {
        self.operatingSystems = operatingSystems
        self.architecture = architecture
        self.requiredCommands = requiredCommands
        self.recommendedCommands = recommendedCommands
        self.maxClockSkewSeconds = maxClockSkewSeconds
    }

    /// Ports Kubernetes components listen on, with the unit that may already hold each.
    public static let controlPlanePorts: [(port: Int, unit: String)] = [
        (6443, "kube-apiserver.service"), (10257, "kube-controller-manager.service"),
        (10259, "kube-scheduler.service"), (10250, "kubelet.service"),
    ]
    public static let nodePorts: [(port: Int, unit: String)] = [(10250, "kubelet.service")]
}

/// Pre-flight checks of one node. Every problem of a host is reported at once, each with its fix.
enum NodePreflight {
    /// What `check` reads, declared: every fact in one command with the states of the units that may hold
    /// the ports.
    static func survey(_ ctx: WorkflowContext, host: String, controlPlane: Bool, requirements: PreflightRequirements) async throws {
        _ = try await probe(ctx, host: host, controlPlane: controlPlane, requirements: requirements)
        try await ctx.survey(host, units: ports(controlPlane: controlPlane).map(\.unit))
    }

    static func ports(controlPlane: Bool) -> [(port: Int, unit: String)] {
        controlPlane ? PreflightRequirements.controlPlanePorts : PreflightRequirements.nodePorts
    }

    private static func probe(_ ctx: WorkflowContext, host: String, controlPlane: Bool, requirements: PreflightRequirements) async throws -> HostProbe {
        let wanted = requirements.requiredCommands + (controlPlane ? ["curl"] : [])
        return try await ctx.probe(host, paths: ["/etc/os-release", "/proc/swaps", "/proc/net/tcp", "/proc/net/tcp6"],
                                   commands: [("uname", ShellCommand("uname", "-m")), ("date", ShellCommand("date", "+%s")),
                                              ("missing", missingCommandsCommand(wanted + requirements.recommendedCommands))])
    }

    static func check(_ ctx: WorkflowContext, host: String, controlPlane: Bool, requirements: PreflightRequirements) async throws {
        var problems: [String] = []

        // Every fact in one command; the clock is read inside it, so its round trip bounds the skew slack.
        let wanted = requirements.requiredCommands + (controlPlane ? ["curl"] : [])
        let called = ctx.now()
        let probe = try await probe(ctx, host: host, controlPlane: controlPlane, requirements: requirements)
        let before = probe.read?.lowerBound ?? called
        let after = probe.read?.upperBound ?? ctx.now()

        if let os = probe.text("/etc/os-release").flatMap(FactsParser.osRelease) {
            let ids = Set([os.id] + os.idLike)
            if ids.isDisjoint(with: requirements.operatingSystems) {
                problems.append("unsupported operating system \(os.prettyName ?? os.id) (supported: \(requirements.operatingSystems.sorted().joined(separator: ", ")) and their derivatives)")
            }
        } else {
            problems.append("cannot identify the operating system: /etc/os-release is missing or has no ID")
        }

        let uname = probe.outputs["uname"] ?? ""
        let arch = FactsParser.architecture(unameMachine: uname)
        if arch != requirements.architecture {
            problems.append("architecture \(arch ?? uname.trimmingCharacters(in: .whitespacesAndNewlines)) does not match the artifacts (\(requirements.architecture)); set the artifacts' architecture or use \(requirements.architecture) hosts")
        }

        if let swaps = probe.text("/proc/swaps") {
            let active = swaps.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
            if !active.isEmpty {
                problems.append("swap is on (\(active.joined(separator: ", "))): the kubelet refuses to run with swap; run `swapoff -a` and remove the swap entries from /etc/fstab")
            }
        }

        let missing = Set((probe.outputs["missing"] ?? "").split(separator: "\n").map(String.init))
        let missingRequired = wanted.filter(missing.contains)
        if !missingRequired.isEmpty {
            problems.append("required commands missing: \(missingRequired.joined(separator: ", ")) (install them with the OS package manager)")
        }
        let missingRecommended = requirements.recommendedCommands.filter(missing.contains)
        if !missingRecommended.isEmpty {
            await ctx.emit(.warning, host: host, "warning: \(missingRecommended.joined(separator: ", ")) not found; Kubernetes networking needs them at run time")
        }

        let listening = ["/proc/net/tcp", "/proc/net/tcp6"].compactMap(probe.text).reduce(into: Set<Int>()) { $0.formUnion(parseListening($1)) }
        let busy = ports(controlPlane: controlPlane).filter { listening.contains($0.port) }
        if !busy.isEmpty {
            // The units that may hold a busy port, from the survey (read with the probe when it was declared).
            let states = try await ctx.unitStates(host, busy.map(\.unit))
            for (port, unit) in busy where !(states[unit]?.isRunning ?? false) {
                problems.append("port \(port) is in use by a process other than \(unit); stop it (`ss -ltnp 'sport = :\(port)'` shows which)")
            }
        }

        let date = probe.outputs["date"] ?? ""
        if let seconds = Double(date.trimmingCharacters(in: .whitespacesAndNewlines)) {
            let local = before.timeIntervalSince1970 + after.timeIntervalSince(before) / 2
            let skew = seconds - local
            let slack = requirements.maxClockSkewSeconds + after.timeIntervalSince(before) / 2 + 1
            if abs(skew) > slack {
                problems.append(String(format: "clock differs from this machine's by %.0f s (at most %.0f s allowed): certificates and etcd leases depend on time; enable NTP (timedatectl set-ntp true)", skew, requirements.maxClockSkewSeconds))
            }
        } else {
            problems.append("cannot read the clock (`date +%s` said \(date.isEmpty ? "nothing" : date))")
        }

        if !problems.isEmpty {
            throw WorkflowError.refused(what: "install Kubernetes on \(host)", found: problems.joined(separator: "; "),
                                        next: "Fix these on the host and run the command again")
        }
    }

    static func missingCommandsCommand(_ names: [String]) -> ShellCommand {
        let script = "for c in \"$@\"; do command -v \"$c\" >/dev/null 2>&1 || [ -x \"/usr/sbin/$c\" ] || [ -x \"/sbin/$c\" ] || echo \"$c\"; done"
        return ShellCommand(["sh", "-c", script, "sh"] + names)
    }

    static func parseListening(_ text: String) -> Set<Int> {
        var ports = Set<Int>()
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "0A", let colon = fields[1].lastIndex(of: ":"),
                  let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16) else { continue }
            ports.insert(port)
        }
        return ports
    }
}
