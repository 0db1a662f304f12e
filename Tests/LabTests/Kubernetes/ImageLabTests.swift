import Foundation
import Lab
import Testing
import TestSupport

/// Images for air-gapped nodes with real containerd (Debian's 1.6.20) on lab hosts: the test builds an OCI
/// archive from Debian's busybox-static itself (no registry), puts it into the artifact bundle as the
/// pause image with its SHA-256, and `capstan apply` imports it into containerd's k8s.io namespace.
/// `ctr` on the hosts is the witness. Registry mirrors and credentials are checked in the files on a host
/// and in containerd loading its CRI plugin with them.
@Suite("Container images and registries on lab hosts through capstan apply", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct ImageLabTests {
    static let hosts = ["h1", "h2"]
    static let pause = "registry.k8s.io/pause:3.10"
    static let archiveName = "registry.k8s.io_pause_3.10.oci.tar"

    /// Debian's busybox-static, downloaded once (`apt-get download`) and unpacked beside the lab cache.
    static func busybox() throws -> String {
        let dir = LabLayout.artifactDirectory + "/../busybox-static"
        let binary = dir + "/root/bin/busybox"
        if FileManager.default.isExecutableFile(atPath: binary) { return binary }
        try FileManager.default.createDirectory(atPath: dir + "/deb", withIntermediateDirectories: true)
        let download = try IntegrationLab.run("/bin/sh", ["-c", "cd '\(dir)/deb' && apt-get download busybox-static && dpkg-deb -x busybox-static_*.deb '\(dir)/root'"])
        guard download.succeeded, FileManager.default.isExecutableFile(atPath: binary) else {
            throw LabError("cannot get Debian's busybox-static (apt-get download): \(download.all)")
        }
        return binary
    }

    /// The lab's artifact directory plus images/ with the busybox archive named as the pause image.
    func bundle(_ dir: String) throws -> (path: String, image: OCIArchive.Built) {
        let fm = FileManager.default
        try? fm.removeItem(atPath: dir)
        try fm.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        let artifacts = try IntegrationLab.kubernetesArtifacts()
        for entry in try fm.contentsOfDirectory(atPath: artifacts) where !entry.hasPrefix(".") {
            try fm.createSymbolicLink(atPath: dir + "/" + entry, withDestinationPath: artifacts + "/" + entry)
        }
        // As `skopeo copy docker://REF oci-archive:FILE:REF` writes it: the full name in the OCI ref.name.
        let built = try OCIArchive.build(at: dir + "/images/" + Self.archiveName, files: ["bin/busybox": try Self.busybox()],
                                         annotations: ["org.opencontainers.image.ref.name": Self.pause], command: ["/bin/busybox", "sleep", "3600"])
        try "\(built.sha256)  \(Self.archiveName)\n".write(toFile: dir + "/images/SHA256SUMS", atomically: true, encoding: .utf8)
        return (dir, built)
    }

    func listed(_ lab: Lab, _ host: String) throws -> String {
        let r = try lab.run(in: host, ["/usr/local/bin/ctr", "-n", "k8s.io", "images", "ls"])
        #expect(r.succeeded, "ctr images ls on \(host): \(r.stderr)")
        return r.stdout
    }

    func digest(in listing: String, of name: String) -> String? {
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 2, String(fields[0]) == name { return String(fields[2]) }
        }
        return nil
    }

    @Test("apply imports the bundled pause archive on every node with its digest, busybox runs from its snapshot, a re-apply imports nothing, a tampered archive is refused with nothing imported; hosts.toml and credentials on the hosts")
    func importAndRegistries() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = Scratch.directory("img-lab")
        let (artifacts, image) = try bundle(dir + "/bundle")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "imglab", version: "3.5.1", artifacts: artifacts,
                                                          roles: [1: ["control-plane", "etcd"], 2: ["worker"]])
        try "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n".write(toFile: dir + "/mirror-ca.crt", atomically: true, encoding: .utf8)
        try "robot:s3cr\"et\n".write(toFile: dir + "/registry.credentials", atomically: true, encoding: .utf8)
        let registries = """
          containerRuntime:
            registries:
              - host: registry.k8s.io
                mirrors: [https://mirror.lab.invalid:5000]
                caFile: mirror-ca.crt
                credentialsFile: registry.credentials
          hosts:
        """
        let text = try String(contentsOfFile: inventory, encoding: .utf8).replacingOccurrences(of: "  hosts:\n", with: registries + "\n")
        try text.write(toFile: inventory, atomically: true, encoding: .utf8)
        // A lab host's root is an overlay, on which containerd's overlayfs snapshotter cannot put its own
        // upper directories; a node's /var/lib on ext4 or xfs can. tmpfs stands in for that disk.
        for host in Self.hosts {
            try lab.run(in: host, ["sh", "-c", "mkdir -p /var/lib/containerd && (mountpoint -q /var/lib/containerd || mount -t tmpfs -o size=256m tmpfs /var/lib/containerd)"])
        }
        defer {
            for host in Self.hosts { _ = try? lab.run(in: host, ["sh", "-c", "systemctl stop containerd; umount /var/lib/containerd"]) }
        }

        let first = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(first.succeeded, "apply failed: \(first.all)")
        print("MEASURED bare → applied with the image imported (2 hosts): \(String(format: "%.2f", first.seconds)) s")
        let imports = first.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") && $0.contains("import image \(Self.pause)") }
        #expect(imports.count == 2, "one import per node: \(imports)")
        // Peer transfer: the archive left this machine once; the other node fetched it from the first (its
        // SHA-256 checked there), and the staging copy the first kept to serve it went when the phase ended.
        let staging = "/var/lib/capstan/images/" + Self.archiveName
        let hostLines = first.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"host-status\"") && $0.contains(staging + ": ") }
        #expect(hostLines.filter { $0.contains(": sent ") }.count == 1 && hostLines.filter { $0.contains(": fetched ") && $0.contains(" from h") }.count == 1,
                "\(hostLines)")
        for host in Self.hosts {
            let listing = try listed(lab, host)
            #expect(digest(in: listing, of: Self.pause) == image.manifestDigest, "\(host): \(listing)")
            #expect(try lab.run(in: host, ["test", "-e", "/var/lib/capstan/images/" + Self.archiveName]).status != 0, "the staged archive stays on \(host)")
        }
        // The image is whole: containerd mounts its unpacked snapshot and busybox runs from it. (`ctr run`
        // cannot run here: runc needs writable cgroups, and nspawn gives a cgroup-v1 machine's hosts
        // read-only controllers.)
        let run = try lab.run(in: "h2", ["sh", "-c", "mkdir -p /mnt/capstan-img && /usr/local/bin/ctr -n k8s.io images mount \(Self.pause) /mnt/capstan-img >/dev/null && chroot /mnt/capstan-img /bin/busybox echo hello from the bundle; s=$?; /usr/local/bin/ctr -n k8s.io images unmount /mnt/capstan-img >/dev/null; exit $s"])
        #expect(run.succeeded && run.stdout.contains("hello from the bundle"), "image mount + chroot: \(run.stdout)\(run.stderr)")

        // Registries: hosts.toml with the mirror and CA, config_path, credentials only in the 0600 config.
        let hostsToml = try lab.run(in: "h1", ["cat", "/etc/containerd/certs.d/registry.k8s.io/hosts.toml"]).stdout
        #expect(hostsToml.contains("server = \"https://registry.k8s.io\""), "\(hostsToml)")
        #expect(hostsToml.contains("[host.\"https://mirror.lab.invalid:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"/etc/containerd/certs.d/registry.k8s.io/ca.crt\""), "\(hostsToml)")
        #expect(try lab.run(in: "h1", ["cat", "/etc/containerd/certs.d/registry.k8s.io/ca.crt"]).stdout.contains("MIIBfake"))
        let config = try lab.run(in: "h2", ["stat", "-c", "%a %U", "/etc/containerd/config.toml"]).stdout
        #expect(config.hasPrefix("600 root"), "\(config)")
        let configText = try lab.run(in: "h2", ["cat", "/etc/containerd/config.toml"]).stdout
        #expect(configText.contains("config_path = \"/etc/containerd/certs.d\""))
        #expect(configText.contains("[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"mirror.lab.invalid:5000\".auth]"), "\(configText)")
        #expect(configText.contains("password = \"s3cr\\\"et\""), "\(configText)")
        #expect(!first.all.contains("s3cr"), "the password reached the output")
        // containerd accepted the configuration: its CRI plugin is loaded, not skipped with an error.
        let plugins = try lab.run(in: "h2", ["/usr/local/bin/ctr", "plugins", "ls"]).stdout
        #expect(plugins.split(separator: "\n").contains { $0.contains("io.containerd.grpc.v1") && $0.contains(" cri ") && $0.trimmingCharacters(in: .whitespaces).hasSuffix(" ok") }, "\(plugins)")

        // A re-apply imports nothing and changes nothing.
        let again = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(again.succeeded, "\(again.all)")
        print("MEASURED no-op re-apply with the image present (2 hosts): \(String(format: "%.2f", again.seconds)) s")
        let actions = again.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }
        #expect(actions.isEmpty, "no-op apply acted: \(actions)")
        let plan = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(plan.stdout.contains("Hosts: up to date (no action planned)"), "\(plan.stdout)")

        // Gone from h2: plan shows exactly that import.
        try lab.run(in: "h2", ["/usr/local/bin/ctr", "-n", "k8s.io", "images", "rm", Self.pause])
        let drift = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(drift.stdout.contains("[h2] import image \(Self.pause) (\(image.manifestDigest.prefix(19))…) from \(Self.archiveName)"), "\(drift.stdout)")
        #expect(!drift.stdout.contains("[h1] import image"), "\(drift.stdout)")

        // The bundle's archive changed after its checksum was listed, on a machine with no cache of it.
        let handle = try #require(FileHandle(forWritingAtPath: artifacts + "/images/" + Self.archiveName))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("tampered".utf8))
        try handle.close()
        try FileManager.default.removeItem(atPath: dir + "/cache")
        let tampered = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(tampered.status == 1, "\(tampered.all)")
        #expect(tampered.all.contains("checksum mismatch for \(artifacts)/images/\(Self.archiveName)"), "\(tampered.all)")
        #expect(digest(in: try listed(lab, "h2"), of: Self.pause) == nil, "the tampered archive was imported on h2")
        #expect(digest(in: try listed(lab, "h1"), of: Self.pause) == image.manifestDigest)

        // A registry dropped from the inventory loses its directory; the operator's own directories stay.
        try lab.run(in: "h1", ["sh", "-c", "mkdir -p /etc/containerd/certs.d/own.example.com && echo 'server = \"https://own.example.com\"' > /etc/containerd/certs.d/own.example.com/hosts.toml"])
        _ = try Self.bundleRestore(artifacts, image: image, dir: dir)
        try text.replacingOccurrences(of: registries + "\n", with: "  hosts:\n").write(toFile: inventory, atomically: true, encoding: .utf8)
        let dropped = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(dropped.succeeded, "\(dropped.all)")
        #expect(dropped.stdout.contains("remove /etc/containerd/certs.d/registry.k8s.io"), "\(dropped.stdout)")
        #expect(try lab.run(in: "h1", ["test", "-e", "/etc/containerd/certs.d/registry.k8s.io"]).status != 0)
        #expect(try lab.run(in: "h1", ["test", "-e", "/etc/containerd/certs.d/own.example.com/hosts.toml"]).succeeded)
        #expect(try lab.run(in: "h2", ["stat", "-c", "%a", "/etc/containerd/config.toml"]).stdout.hasPrefix("644"))
        #expect(digest(in: try listed(lab, "h2"), of: Self.pause) == image.manifestDigest, "the intact archive is imported on h2 again")
    }

    /// Puts the intact archive back (the same bytes the test built: the same digest).
    static func bundleRestore(_ artifacts: String, image: OCIArchive.Built, dir: String) throws -> OCIArchive.Built {
        let rebuilt = try OCIArchive.build(at: artifacts + "/images/" + archiveName, files: ["bin/busybox": try busybox()],
                                           annotations: ["org.opencontainers.image.ref.name": pause], command: ["/bin/busybox", "sleep", "3600"])
        #expect(rebuilt.sha256 == image.sha256, "the archive build is not reproducible")
        return rebuilt
    }
}
