import Foundation
import Testing
import TestSupport

private let repository = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let inventories = repository.appendingPathComponent("inventories")
private let broken = repository.appendingPathComponent("Tests/InventoryTests/Fixtures/broken")

private func temporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("capstan validate", .tags(.unit))
struct ValidateCommandTests {
    @Test("a valid inventory exits 0 with a one-line summary")
    func valid() throws {
        let path = inventories.appendingPathComponent("bare-metal-ha.yaml").path
        let r = try capstan(["validate", "--no-file-checks", "-i", path])
        #expect(r.status == 0)
        #expect(r.stdout == "\(path): valid, 7 hosts\n")
    }

    @Test("warnings only: exit 0, warnings printed")
    func warningsOnly() throws {
        let path = broken.appendingPathComponent("even-etcd-members.yaml").path
        let r = try capstan(["validate", "-i", path])
        #expect(r.status == 0)
        #expect(r.stdout.contains("\(path):10:5: warning: spec.hosts: 4 etcd members"))
        #expect(r.stdout.hasSuffix("valid, 4 hosts, 1 warning\n"))
    }

    @Test("errors: exit 1, every diagnostic as FILE:LINE:COL, then the count")
    func errors() throws {
        let path = broken.appendingPathComponent("wrong-scalar-types.yaml").path
        let r = try capstan(["validate", "-i", path])
        #expect(r.status == 1)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        #expect(lines.first == "\(path):8:11: error: spec.ssh.port: expected an integer, found 'twenty-two'")
        #expect(lines.last == "\(path): 4 errors, 0 warnings")
        #expect(!r.stderr.contains("Fatal") && !r.stderr.contains("Stack"))
    }

    @Test("--output json gives the same diagnostics as objects")
    func json() throws {
        let path = broken.appendingPathComponent("cidrs-contain-hosts.yaml").path
        let r = try capstan(["validate", "-i", path, "--output", "json"])
        #expect(r.status == 1)
        let items = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(items.count == 4)
        #expect(items.map { $0["severity"] as? String } == ["error", "warning", "error", "error"])
        #expect(items[0]["file"] as? String == path)
        #expect(items[0]["line"] as? Int == 8 && items[0]["column"] as? Int == 15)
        #expect((items[0]["message"] as? String)?.hasPrefix("spec.controlPlane.endpoint:") == true)
        let clean = try capstan(["validate", "--no-file-checks", "-i", inventories.appendingPathComponent("managed-workers.yaml").path, "--output", "json"])
        #expect(clean.status == 0)
        #expect((try JSONSerialization.jsonObject(with: Data(clean.stdout.utf8)) as? [Any])?.isEmpty == true)
    }

    @Test("file checks are on by default: missing key files are errors")
    func fileChecks() throws {
        let path = inventories.appendingPathComponent("lab.yaml").path
        let r = try capstan(["validate", "-i", path])
        #expect(r.status == 1 || FileManager.default.isReadableFile(atPath: "/var/lib/capstan/lab/default/id_ed25519"))
        if r.status == 1 { #expect(r.stdout.contains("spec.ssh.identityFile: cannot read /var/lib/capstan/lab/default/id_ed25519")) }
    }

    @Test("a missing file and a non-UTF-8 file are clear errors")
    func unreadable() throws {
        let missing = try capstan(["validate", "-i", "/nonexistent/capstan/x.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("/nonexistent/capstan/x.yaml: error: cannot read the inventory file: no such file"))
        let bad = try capstan(["validate", "-i", broken.appendingPathComponent("non-utf8.yaml").path])
        #expect(bad.status == 1 && bad.stdout.contains(":8:14: error: the file is not valid UTF-8"))
    }
}

@Suite("capstan init", .tags(.unit))
struct InitCommandTests {
    @Test("--list names every example")
    func list() throws {
        let r = try capstan(["init", "--list"])
        #expect(r.status == 0)
        for name in ["lab", "bare-metal-ha", "external-etcd", "managed-workers"] { #expect(r.stdout.contains(name)) }
    }

    @Test("init writes each example, which then validates; it refuses to overwrite without --force", arguments: ["lab", "bare-metal-ha", "external-etcd", "managed-workers"])
    func writesValidExample(name: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("cluster.yaml").path
        let r = try capstan(["init", "--example", name, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        let written = try String(contentsOfFile: out, encoding: .utf8)
        #expect(written == (try String(contentsOf: inventories.appendingPathComponent("\(name).yaml"), encoding: .utf8)))
        #expect(written.hasPrefix("#"), "the example is commented")
        let v = try capstan(["validate", "--no-file-checks", "-i", out])
        #expect(v.status == 0, "\(v.stdout)")

        let again = try capstan(["init", "--example", name, "--output", out])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists; use --force"))
        try Data("changed".utf8).write(to: URL(fileURLWithPath: out))
        let forced = try capstan(["init", "--example", name, "--output", out, "--force"])
        #expect(forced.status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == written)
    }

    @Test("an unknown example is refused with the list of names")
    func unknownExample() throws {
        let r = try capstan(["init", "--example", "nope", "--output", "-"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("unknown example 'nope'"))
        #expect(r.stderr.contains("bare-metal-ha"))
    }
}

@Suite("capstan plan (offline)", .tags(.unit))
struct PlanCommandTests {
    @Test("text plan for a self-managed cluster: Capstan owns every area; phases per host")
    func selfManagedText() throws {
        let r = try capstan(["plan", "--offline", "--no-file-checks", "-i", inventories.appendingPathComponent("external-etcd.yaml").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Cluster staging: Kubernetes v1.30.8, self-managed, etcd 3.5.12 (external)"))
        #expect(r.stdout.contains("etcd1 (192.168.50.21)"))
        #expect(r.stdout.contains("etcd-start → etcd-health → backup-schedule"), "\(r.stdout)")
        #expect(r.stdout.contains("on this machine (the state directory): pki"), "\(r.stdout)")
        #expect(!r.stdout.contains("provider "))
    }

    @Test("json plan for a managed cluster names the provider as owner with reasons")
    func managedJSON() throws {
        let r = try capstan(["plan", "--offline", "--no-file-checks", "-i", inventories.appendingPathComponent("managed-workers.yaml").path, "--output", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["mode"] as? String == "managed")
        #expect(doc["provider"] as? String == "eks")
        let areas = try #require(doc["responsibilities"] as? [[String: String]])
        let owners = Dictionary(uniqueKeysWithValues: areas.map { ($0["area"] ?? "", $0["owner"] ?? "") })
        #expect(owners["etcd"] == "provider" && owners["PKI"] == "provider" && owners["control plane"] == "provider")
        #expect(owners["workers"] == "capstan")
        #expect(areas.first { $0["area"] == "etcd" }?["reason"]?.contains("Amazon EKS") == true)
        let hosts = try #require(doc["hosts"] as? [[String: Any]])
        #expect(hosts.count == 3)
        let phases = try #require(hosts[0]["phases"] as? [String])
        #expect(phases.first == "cluster-identity" && phases.contains("managed-join") && phases.contains("node-runtime"), "\(phases)")
        #expect(!phases.contains("pki") && !phases.contains("control-plane"), "\(phases)")
        #expect(doc["localPhases"] as? [String] == [])
    }

    @Test("plan on a broken inventory prints the diagnostics to stderr and exits 1")
    func brokenInventory() throws {
        let path = broken.appendingPathComponent("duplicate-host-names.yaml").path
        let r = try capstan(["plan", "--offline", "-i", path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("\(path):14:13: error: spec.hosts[2].name: duplicate host name 'cp1'"))
    }
}
