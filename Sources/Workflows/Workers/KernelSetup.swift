import Foundation
import Hosts

/// Kernel modules and sysctls Kubernetes networking needs. A host that is a container (a lab host, for
/// one) cannot load modules or set global sysctls: that is reported as a warning, and nothing is tried,
/// so a re-run stays free of actions.
enum KernelSetup {
    static let modules = ["overlay", "br_netfilter"]
    static let sysctls = [
        ("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        ("net.bridge.bridge-nf-call-iptables", "/proc/sys/net/bridge/bridge-nf-call-iptables"),
    ]

    /// Built-in modules have no /proc/modules line but a /sys/module directory.
    static let probePaths = ["/run/systemd/container", "/proc/modules"] + modules.map { "/sys/module/" + $0 } + sysctls.map { $0.1 }

    /// What `ensure` reads: the files, and the kernel's state in the same command.
    static func survey(_ ctx: WorkflowContext, host: String, files: [ManagedFile]) async throws {
        try await ctx.survey(host, files: files.map(\.path))
        _ = try await ctx.probe(host, paths: probePaths)
    }

    static func ensure(_ ctx: WorkflowContext, host: String, files: [ManagedFile]) async throws {
        try await ctx.survey(host, files: files.map(\.path))
        for file in files { try await ctx.ensureFile(host, file) }
        let probe = try await ctx.probe(host, paths: probePaths)
        let container = probe.text("/run/systemd/container")?.trimmingCharacters(in: .whitespacesAndNewlines)

        let loaded = Set((probe.text("/proc/modules") ?? "")
            .split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        let missing = modules.filter { !loaded.contains($0) && !probe.isDirectory("/sys/module/" + $0) }
        if !missing.isEmpty {
            if let container {
                await ctx.emit(.warning, host: host, "warning: \(host) is a container (\(container.isEmpty ? "unknown" : container)) and cannot load kernel modules \(missing.joined(separator: ", ")); load them on the machine that runs it")
            } else {
                let modules = missing
                try await ctx.change(host, "modprobe \(modules.joined(separator: " "))") { c in
                    try await c.check(ShellCommand(["modprobe"] + modules))
                }
            }
        }

        for (key, path) in sysctls {
            let value = probe.text(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard value != "1" else { continue }
            if value == nil, container != nil {
                await ctx.emit(.warning, host: host, "warning: \(key) does not exist in this container (its module is not loaded on the machine that runs it)")
                continue
            }
            do {
                try await ctx.change(host, "sysctl -w \(key)=1") { c in
                    try await c.check(ShellCommand("sysctl", "-w", "\(key)=1"))
                }
            } catch where container != nil {
                await ctx.emit(.warning, host: host, "warning: cannot set \(key) in this container: \(error)")
            }
        }
    }
}
