import Foundation

/// Checks, before touching anything, that this machine can run a lab; every problem is reported at
/// once with the command that fixes it.
public enum LabPrerequisites {
    /// Program → Debian package that provides it.
    static let programs: [(String, String)] = [
        ("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"), ("ip", "iproute2"),
        ("nsenter", "util-linux"), ("unshare", "util-linux"), ("setsid", "util-linux"), ("mount", "mount"),
        ("ssh", "openssh-client"), ("ssh-keygen", "openssh-client"), ("zstd", "zstd"), ("tar", "tar"),
        ("dpkg-deb", "dpkg"), ("sha256sum", "coreutils"), ("python3", "python3"),
    ]

    public static func check() throws {
        guard geteuid() == 0 else {
            throw LabError("capstan lab needs root (it mounts overlays, creates network namespaces and boots containers): run it with sudo")
        }
        var missing: [String] = []
        for (program, package) in programs where LocalProcess.which(program) == nil {
            let pinned = package == "systemd-container" ? pinnedSystemdContainer() : package
            if !missing.contains(pinned) { missing.append(pinned) }
        }
        if !missing.isEmpty {
            throw LabError("missing programs for the lab; install them with:\n  apt-get install -y --no-install-recommends \(missing.joined(separator: " "))"
                + (missing.contains { $0.hasPrefix("systemd-container") }
                    ? "\n(systemd-container is pinned to this machine's systemd version so apt does not upgrade systemd itself)" : ""))
        }
        var reasons: [String] = []
        if SystemFacts.cgroupRoots().isEmpty {
            reasons.append("no usable cgroup hierarchy (neither cgroup v2 at /sys/fs/cgroup nor the hybrid name=systemd + unified layout)")
        }
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        if !filesystems.contains("overlay") { reasons.append("the kernel has no overlay filesystem (modprobe overlay)") }
        if !SystemFacts.exists("/proc/self/ns/net") { reasons.append("the kernel has no network namespaces") }
        if !reasons.isEmpty {
            throw LabError("systemd-nspawn cannot boot lab hosts on this machine: " + reasons.joined(separator: "; "))
        }
    }

    /// Every host's systemd and journald hold several inotify instances, all counted against root's
    /// `fs.inotify.max_user_instances` (128 by default): a few labs at once exhaust it and hosts hang at
    /// boot ("Failed to create inotify object: Too many open files"). Raised for the running kernel only.
    static let inotifyPath = "/proc/sys/fs/inotify/max_user_instances"
    static let inotifyInstances = 1024

    static func ensureInotifyInstances(progress: LabProgress) {
        guard let text = try? String(contentsOfFile: inotifyPath, encoding: .utf8),
              let current = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), current < inotifyInstances else { return }
        do {
            try "\(inotifyInstances)\n".write(toFile: inotifyPath, atomically: false, encoding: .utf8)
            progress.step("raised fs.inotify.max_user_instances from \(current) to \(inotifyInstances) for the lab hosts' systemd (until reboot)")
        } catch {
            progress.step("warning: fs.inotify.max_user_instances is \(current); hosts may hang at boot with several labs up (sysctl -w fs.inotify.max_user_instances=\(inotifyInstances)): \(error.localizedDescription)")
        }
    }

    /// `systemd-container=<version of libsystemd-shared>`, or the bare name when dpkg cannot tell.
    static func pinnedSystemdContainer() -> String {
        let version = (try? LocalProcess.run(["dpkg-query", "-W", "-f=${Version}", "libsystemd-shared"]))
            .flatMap { $0.succeeded ? $0.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil } ?? ""
        return version.isEmpty ? "systemd-container" : "systemd-container=\(version)"
    }
}
