import Foundation

/// The Debian root filesystem every lab host starts from (the never-booted overlay lower dir).
/// Built once with debootstrap, saved as a zstd tarball named by a hash of its recipe, restored from
/// that tarball in about a second, and rebuilt only when the recipe changes.
public struct BaseImage: Sendable {
    public static let suite = "bookworm"
    public static let packages = [
        "systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "ca-certificates", "sudo",
        "python3", "procps", "curl", "iputils-ping", "less",
        // Kubernetes nodes: kube-proxy and the kubelet call iptables, conntrack and modprobe.
        "iptables", "kmod", "conntrack",
        // The node-local API balancer and the control-plane virtual IP.
        "haproxy", "keepalived",
    ]
    /// Steps applied after debootstrap, in order. Their text is part of the recipe hash, so changing
    /// a step here rebuilds the image.
    static let trimSteps: [String] = [
        "apt-get clean; rm -rf /var/lib/apt/lists/*",
        "rm -f /etc/ssh/ssh_host_* (every host gets its own key)",
        "empty /etc/machine-id; rm -f /var/lib/dbus/machine-id",
        "mask apt-daily.timer apt-daily-upgrade.timer (no network-reaching timers)",
        "sshd: PermitRootLogin prohibit-password, HostKey /etc/ssh/ssh_host_ed25519_key only",
        "enable systemd-networkd",
    ]

    public var recipeHash: String
    public var tarball: String { LabLayout.cacheRoot + "/base-\(recipeHash).tar.zst" }
    public var rootfs: String { LabLayout.cacheRoot + "/base-\(recipeHash)" }

    public static func current() throws -> BaseImage {
        let recipe = "suite=\(suite)\nvariant=minbase\npackages=\(packages.joined(separator: ","))\n"
            + trimSteps.joined(separator: "\n") + "\n"
        let digest = try LocalProcess.check(["sha256sum"], context: "hashing the base image recipe", stdin: Data(recipe.utf8))
        return BaseImage(recipeHash: String(digest.prefix(16)))
    }

    /// Makes `rootfs` ready: nothing when it exists, restore from the tarball, or build from scratch.
    public func ensure(progress: LabProgress) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: rootfs + "/.capstan-base-complete") { return }
        try fm.createDirectory(atPath: LabLayout.cacheRoot, withIntermediateDirectories: true)
        try? fm.removeItem(atPath: rootfs)
        if fm.fileExists(atPath: tarball) {
            progress.step("restoring base image from \(tarball)")
            try fm.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
            try LocalProcess.shell(#"zstd -dc "$1" | tar -C "$2" --numeric-owner --xattrs -xf -"#, [tarball, rootfs],
                                   context: "restoring the base image")
        } else {
            progress.step("building base image with debootstrap (\(BaseImage.suite), first run only, about 2 minutes)")
            try build()
            progress.step("saving base image to \(tarball)")
            let partial = tarball + ".partial"
            try LocalProcess.shell(#"tar -C "$1" --numeric-owner --xattrs -cf - . | zstd -q -T0 -10 > "$2""#, [rootfs, partial],
                                   context: "saving the base image")
            try fm.moveItem(atPath: partial, toPath: tarball)
        }
        guard fm.createFile(atPath: rootfs + "/.capstan-base-complete", contents: Data()) else {
            throw LabError("cannot mark the base image complete in \(rootfs)")
        }
    }

    private func build() throws {
        let staging = rootfs + ".building"
        let fm = FileManager.default
        try? fm.removeItem(atPath: staging)
        let mirror = BaseImage.mirror()
        let log = LabLayout.cacheRoot + "/debootstrap.log"
        let out = try LocalProcess.run(["debootstrap", "--variant=minbase", "--include=" + BaseImage.packages.joined(separator: ","),
                                        BaseImage.suite, staging, mirror])
        try? (out.stdout + out.stderr).write(toFile: log, atomically: true, encoding: .utf8)
        guard out.succeeded else {
            throw LabError("debootstrap of \(BaseImage.suite) from \(mirror) failed (exit \(out.status)); full log: \(log)\n"
                + out.stdout.split(separator: "\n").suffix(8).joined(separator: "\n"))
        }
        try LocalProcess.check(["chroot", staging, "apt-get", "clean"], context: "cleaning the base image")
        try LocalProcess.shell(#"rm -rf "$1"/var/lib/apt/lists/* "$1"/etc/ssh/ssh_host_* "$1"/var/lib/dbus/machine-id"#, [staging],
                               context: "trimming the base image")
        try Data().write(to: URL(fileURLWithPath: staging + "/etc/machine-id"))
        try "base\n".write(toFile: staging + "/etc/hostname", atomically: true, encoding: .utf8)
        for timer in ["apt-daily.timer", "apt-daily-upgrade.timer"] {
            let path = staging + "/etc/systemd/system/" + timer
            try? fm.removeItem(atPath: path)
            try? fm.removeItem(atPath: staging + "/etc/systemd/system/timers.target.wants/" + timer)
            try fm.createSymbolicLink(atPath: path, withDestinationPath: "/dev/null")
        }
        try "PermitRootLogin prohibit-password\nHostKey /etc/ssh/ssh_host_ed25519_key\n"
            .write(toFile: staging + "/etc/ssh/sshd_config.d/00-capstan-lab.conf", atomically: true, encoding: .utf8)
        try LocalProcess.check(["chroot", staging, "systemctl", "enable", "systemd-networkd"], context: "enabling systemd-networkd in the base image")
        try fm.moveItem(atPath: staging, toPath: rootfs)
    }

    /// The Debian mirror this machine's apt already uses (deb822 or one-line sources), else deb.debian.org.
    static func mirror() -> String {
        let fm = FileManager.default
        let dir = "/etc/apt/sources.list.d"
        for file in ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).sorted() where file.hasSuffix(".sources") {
            let text = (try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix("URIs:") {
                if let uri = line.split(separator: " ").dropFirst().first, !uri.contains("security") { return String(uri) }
            }
        }
        let list = (try? String(contentsOfFile: "/etc/apt/sources.list", encoding: .utf8)) ?? ""
        for line in list.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.first == "deb", let uri = f.dropFirst().first(where: { $0.hasPrefix("http") }) { return String(uri) }
        }
        return "http://deb.debian.org/debian"
    }
}
