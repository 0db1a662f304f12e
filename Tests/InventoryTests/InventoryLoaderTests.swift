import Foundation
import Testing
import TestSupport
@testable import Inventory

let minimalInventory = """
apiVersion: capstan.dev/v1alpha1
kind: Cluster
metadata:
  name: mini
spec:
  kubernetesVersion: v1.32.1
  hosts:
    - name: h1
      address: 192.168.1.10
      roles: [control-plane, etcd, worker]

"""

@Suite("Inventory parsing and defaults", .tags(.unit))
struct InventoryLoaderTests {
    @Test("the lab inventory parses into the model field by field")
    func labFields() throws {
        let path = TestPaths.inventories.appendingPathComponent("lab.yaml").path
        let inv = try #require(InventoryLoader.load(path: path, checkFiles: false).inventory)
        #expect(inv.name == "lab")
        #expect(inv.sourcePath == path)
        #expect(inv.kubernetesVersion == SemanticVersion(1, 31, 4))
        #expect(inv.controlPlane.mode == .selfManaged)
        #expect(inv.controlPlane.endpoint == "10.213.0.11:6443")
        #expect(inv.network.serviceCIDR.description == "10.96.0.0/12")
        #expect(inv.etcd.version == SemanticVersion(3, 5, 1))
        #expect(inv.etcd.topology == .stacked)
        let backup = try #require(inv.etcd.backup)
        #expect(backup.schedule == "*-*-* 02:00:00")
        #expect(backup.randomizedDelay == TimeSpan(seconds: 600))
        #expect(backup.destination == .local(path: nil))
        #expect(backup.encryptionKeyFile == "/var/lib/capstan/lab/default/backup.key")
        #expect(inv.ssh.identityFile == "/var/lib/capstan/lab/default/id_ed25519")
        #expect(inv.ssh.knownHostsPolicy == .strict)
        #expect(inv.artifacts.source == .local)
        #expect(inv.hosts.map(\.name) == ["h1", "h2", "h3"])
        #expect(inv.hosts[2].roles == [.controlPlane, .etcd, .worker])
        #expect(inv.hosts[2].labels == ["capstan.dev/lab": "true"])
    }

    @Test("a minimal inventory gets every default")
    func defaults() throws {
        let result = InventoryLoader.load(text: minimalInventory, path: "/clusters/mini.yaml", checkFiles: false)
        #expect(result.diagnostics.isEmpty)
        let inv = try #require(result.inventory)
        #expect(inv.controlPlane == ControlPlaneSpec())
        #expect(inv.network == NetworkSpec())
        #expect(inv.network.clusterDomain == "cluster.local")
        #expect(inv.etcd.version == SemanticVersion(3, 5, 16), "etcd defaults to the version paired with Kubernetes 1.32")
        #expect(inv.etcd.topology == .stacked && inv.etcd.dataDir == "/var/lib/etcd" && inv.etcd.backup == nil)
        #expect(inv.pki == PKISpec())
        #expect(inv.pki.keyAlgorithm == .ecdsaP256)
        #expect(inv.ssh.user == "root" && inv.ssh.port == 22 && inv.ssh.useAgent == true && inv.ssh.transport == .libssh2)
        #expect(inv.ssh.knownHostsPolicy == .strict)
        #expect(inv.ssh.knownHostsFile == FileManager.default.homeDirectoryForCurrentUser.path + "/.ssh/known_hosts")
        #expect(inv.artifacts == ArtifactSpec())
        #expect(inv.upgrade == UpgradeSpec())
        #expect(inv.hosts[0].ssh == nil && inv.hosts[0].labels.isEmpty && inv.hosts[0].taints.isEmpty)
    }

    @Test("backup defaults apply when only the key is given")
    func backupDefaults() throws {
        let text = minimalInventory.replacingOccurrences(of: "  hosts:", with: """
          etcd:
            backup:
              encryptionKeyFile: keys/backup.key
          hosts:
        """)
        let inv = try #require(InventoryLoader.load(text: text, path: "/clusters/mini.yaml", checkFiles: false).inventory)
        let b = try #require(inv.etcd.backup)
        #expect(b == BackupPolicy(encryptionKeyFile: "/clusters/keys/backup.key"))
    }

    @Test("relative file paths resolve against the inventory's directory, ~ against home")
    func pathResolution() throws {
        let text = minimalInventory.replacingOccurrences(of: "  hosts:", with: """
          ssh:
            identityFile: ../keys/id_ed25519
            knownHosts:
              file: ~/kh
          hosts:
        """)
        let inv = try #require(InventoryLoader.load(text: text, path: "/srv/clusters/prod/inv.yaml", checkFiles: false).inventory)
        #expect(inv.ssh.identityFile == "/srv/clusters/keys/id_ed25519")
        #expect(inv.ssh.knownHostsFile == FileManager.default.homeDirectoryForCurrentUser.path + "/kh")
        #expect(InventoryLoader.resolve("/abs/file", relativeTo: "/x/inv.yaml") == "/abs/file")
    }

    @Test("per-host SSH overrides overlay the cluster defaults")
    func sshOverrides() throws {
        let text = minimalInventory + """
              ssh:
                port: 2222
                user: admin

        """
        let inv = try #require(InventoryLoader.load(text: text, path: "inv.yaml", checkFiles: false).inventory)
        let eff = inv.effectiveSSH(for: inv.hosts[0])
        #expect(eff.port == 2222 && eff.user == "admin" && eff.useAgent == true)
    }

    @Test("anchors, aliases and merge keys work; explicit keys win over merged ones")
    func anchorsAndMerge() throws {
        let text = minimalInventory.replacingOccurrences(of: "  hosts:", with: """
          ssh: &ssh
            user: ops
            port: 2200
          hosts:
        """) + """
              ssh:
                <<: *ssh
                port: 22
              labels: &labels
                tier: db
            - name: h2
              address: 192.168.1.11
              roles: [worker]
              labels: *labels

        """
        let result = InventoryLoader.load(text: text, path: "inv.yaml", checkFiles: false)
        let inv = try #require(result.inventory, "\(result.diagnostics)")
        #expect(inv.ssh.user == "ops" && inv.ssh.port == 2200)
        #expect(inv.hosts[0].ssh?.user == "ops" && inv.hosts[0].ssh?.port == 22)
        #expect(inv.hosts[1].labels == ["tier": "db"])
    }

    @Test("maxUnavailable takes a count or a percentage; taints parse")
    func upgradeAndTaints() throws {
        let text = minimalInventory.replacingOccurrences(of: "  hosts:", with: """
          upgrade:
            maxUnavailable: "25%"
            drainTimeout: 2m
          hosts:
        """) + """
              taints:
                - key: example.com/dedicated
                  value: db
                  effect: NoSchedule

        """
        let inv = try #require(InventoryLoader.load(text: text, path: "inv.yaml", checkFiles: false).inventory)
        #expect(inv.upgrade.maxUnavailable == .percent(25))
        #expect(inv.upgrade.drainTimeout == TimeSpan(seconds: 120))
        #expect(inv.hosts[0].taints == [Taint(key: "example.com/dedicated", value: "db", effect: .noSchedule)])
        let count = minimalInventory.replacingOccurrences(of: "  hosts:", with: "  upgrade:\n    maxUnavailable: 3\n  hosts:")
        #expect(InventoryLoader.load(text: count, path: "inv.yaml").inventory?.upgrade.maxUnavailable == .count(3))
    }

    @Test("readable files pass the file check; a missing one is reported at its line")
    func fileChecks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-inv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("key".utf8).write(to: dir.appendingPathComponent("id_ed25519"))
        let text = minimalInventory.replacingOccurrences(of: "  hosts:", with: """
          ssh:
            identityFile: id_ed25519
          etcd:
            backup:
              encryptionKeyFile: missing.key
          hosts:
        """)
        let path = dir.appendingPathComponent("inv.yaml").path
        let result = InventoryLoader.load(text: text, path: path, checkFiles: true)
        #expect(result.diagnostics.map(\.description) == [
            "\(path):11:26: error: spec.etcd.backup.encryptionKeyFile: cannot read \(dir.path)/missing.key: no such file",
        ])
        #expect(InventoryLoader.load(text: text, path: path, checkFiles: false).diagnostics.isEmpty)
    }

    @Test("loadOrThrow throws every error, and returns warnings with the inventory")
    func loadOrThrow() throws {
        let broken = TestPaths.broken.appendingPathComponent("wrong-scalar-types.yaml").path
        #expect(throws: InventoryError.self) { try InventoryLoader.loadOrThrow(path: broken, checkFiles: false) }
        do {
            _ = try InventoryLoader.loadOrThrow(path: broken, checkFiles: false)
        } catch let e as InventoryError {
            #expect(e.diagnostics.count == 4)
            #expect(e.description.contains("wrong-scalar-types.yaml:8:11: error: spec.ssh.port"))
        }
        let warned = TestPaths.broken.appendingPathComponent("even-etcd-members.yaml").path
        let (inv, warnings) = try InventoryLoader.loadOrThrow(path: warned, checkFiles: false)
        #expect(inv.etcdHosts.count == 4 && warnings.count == 1)
    }

    @Test("a missing inventory file is one clear error")
    func missingFile() {
        let r = InventoryLoader.load(path: "/nonexistent/capstan/inv.yaml")
        #expect(r.diagnostics.map(\.description) == ["/nonexistent/capstan/inv.yaml: error: cannot read the inventory file: no such file"])
    }

    @Test("a directory given as the inventory is named as one, with the file to give instead")
    func directoryGiven() throws {
        let dir = NSTemporaryDirectory() + "capstan-inv-dir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = InventoryLoader.load(path: dir)
        #expect(r.diagnostics.map(\.description) == ["\(dir): error: cannot read the inventory file: it is a directory; give the YAML file itself (e.g. \(dir)/inventory.yaml)"])
    }
}

@Suite("Validation helpers", .tags(.unit))
struct ValidationHelperTests {
    @Test("did-you-mean finds near misses and ignores unrelated words")
    func spelling() {
        #expect(Spelling.distance("adress", "address") == 1)
        #expect(Spelling.suggestion(for: "adress", among: InventorySchema.keys(under: "spec.hosts[]")) == "address")
        #expect(Spelling.suggestion(for: "Roles", among: InventorySchema.keys(under: "spec.hosts[]")) == "roles")
        #expect(Spelling.suggestion(for: "colour", among: InventorySchema.keys(under: "spec")) == nil)
    }

    @Test("label keys follow Kubernetes' qualified-name rules", arguments: [
        ("app", true), ("example.com/zone", true), ("node-role.kubernetes.io/worker", true), ("a_b.c-d", true),
        ("Example.com/zone", false), ("-app", false), ("app-", false), ("a/b/c", false), ("", false),
        (String(repeating: "a", count: 64), false), ("example.com/", false),
    ])
    func labelKeys(key: String, valid: Bool) {
        #expect((Syntax.labelKeyProblem(key) == nil) == valid)
    }

    @Test("endpoints are HOST or HOST:PORT")
    func endpoints() {
        #expect(Syntax.splitEndpoint("10.0.0.1:6443")?.port == 6443)
        #expect(Syntax.splitEndpoint("api.example.com")?.port == nil)
        #expect(Syntax.splitEndpoint("[fd00::1]:6443")?.host == "fd00::1")
        #expect(Syntax.splitEndpoint("https://x:1") == nil)
        #expect(Syntax.splitEndpoint("a:b") == nil)
    }

    @Test("OnCalendar: systemd forms pass, prose and out-of-range fields fail", arguments: [
        ("daily", true), ("hourly", true), ("*-*-* 02:00:00", true), ("Mon..Fri 01:30", true), ("*-*-* 00/6:00:00", true),
        ("Sat,Sun *-*-* 03:15", true), ("2025-01-01 00:00:00 UTC", true), ("*-*-1 04:00", true), ("*:0/15", true),
        ("every night", false), ("*-*-* 25:00:00", false), ("", false), ("02:61", false), ("Funday 02:00", false), ("1 2 3 4 5", false),
    ])
    func onCalendar(text: String, valid: Bool) {
        #expect(OnCalendar.isPlausible(text) == valid)
    }

    @Test("OnCalendar agrees with systemd-analyze where it is installed")
    func onCalendarMatchesSystemd() throws {
        let tool = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let tool else { return }
        for text in ["daily", "*-*-* 02:00:00", "Mon..Fri 01:30", "*-*-* 00/6:00:00", "every night", "*-*-* 25:00:00", "Funday 02:00"] {
            let analyzed = try runProgram([tool, "calendar", text])
            #expect(OnCalendar.isPlausible(text) == analyzed.succeeded, "systemd-analyze disagrees on '\(text)'")
        }
    }

    @Test("the supported window pairs each Kubernetes minor with a 3.5 etcd")
    func supportedVersions() {
        #expect(SupportedVersions.isSupported(kubernetes: SemanticVersion(1, 29, 0)))
        #expect(SupportedVersions.isSupported(kubernetes: SemanticVersion(1, 32, 9)))
        #expect(!SupportedVersions.isSupported(kubernetes: SemanticVersion(1, 28, 15)))
        #expect(!SupportedVersions.isSupported(kubernetes: SemanticVersion(1, 33, 0)))
        #expect(SupportedVersions.etcd(for: SemanticVersion(1, 31, 4)) == SemanticVersion(3, 5, 15))
        #expect(SupportedVersions.kubernetes.allSatisfy { SupportedVersions.support(etcd: $0.etcd) == .supported })
        #expect(SupportedVersions.support(etcd: SemanticVersion(3, 4, 23)) == .etcdOnly)
        #expect(SupportedVersions.support(etcd: SemanticVersion(3, 4, 22)) == .unsupported)
        #expect(SupportedVersions.support(etcd: SemanticVersion(3, 6, 0)) == .unsupported)
    }
}
