import Foundation
import Testing
import TestSupport

/// `node remove` and `reset` refuse before they connect to any host: the inventory's hosts do not exist.
@Suite("capstan node remove / reset: refusals before any host is touched", .tags(.unit))
struct NodeCommandTests {
    func inventory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-cli-node-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var yaml = """
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: ci
        spec:
          kubernetesVersion: v1.31.4
          controlPlane:
            endpoint: api.ci.test:6443
          hosts:

        """
        for i in 1...3 { yaml += "    - name: cp\(i)\n      address: 10.0.0.\(i)\n      roles: [control-plane, etcd]\n" }
        yaml += "    - name: w1\n      address: 10.0.1.1\n      roles: [worker]\n"
        let path = dir.appendingPathComponent("cluster.yaml").path
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("removing every etcd member is refused with exit 2 and the way out")
    func everyMember() throws {
        let r = try capstan(["node", "remove", "-i", try inventory(), "cp1", "cp2", "cp3", "--yes"])
        #expect(r.status == 2 && r.stderr.contains("every etcd member") && r.stderr.contains("reset --all"), "\(r.stderr)")
    }

    @Test("off a terminal without --yes: refused (exit 2), pointing at --yes and --dry-run")
    func unconfirmed() throws {
        let r = try capstan(["node", "remove", "-i", try inventory(), "w1"])
        #expect(r.status == 2 && r.stderr.contains("--yes") && r.stderr.contains("--dry-run"), "\(r.stderr)")
        let all = try capstan(["reset", "-i", try inventory(), "--all"])
        #expect(all.status == 2 && all.stderr.contains("--yes-destroy-cluster ci"), "\(all.stderr)")
        let wrong = try capstan(["reset", "-i", try inventory(), "--all", "--yes-destroy-cluster", "prod"])
        #expect(wrong.status == 2 && wrong.stderr.contains("does not name this cluster"), "\(wrong.stderr)")
    }

    @Test("a host the inventory does not list needs --address; reset needs --host or --all; node add names hosts of the inventory")
    func usage() throws {
        let missing = try capstan(["node", "remove", "-i", try inventory(), "w9", "--yes"])
        #expect(missing.status == 1 && missing.stderr.contains("--address w9=ADDRESS"), "\(missing.stderr)")
        let neither = try capstan(["reset", "-i", try inventory()])
        #expect(neither.status == 64 && neither.stderr.contains("--host H (repeatable) or --all"), "\(neither.stderr)")
        let unknown = try capstan(["node", "add", "-i", try inventory(), "w9"])
        #expect(unknown.status == 1 && unknown.stderr.contains("w9 not in") && unknown.stderr.contains("spec.hosts"), "\(unknown.stderr)")
    }
}

@Suite("capstan plan --detailed-exitcode", .tags(.unit))
struct PlanExitCodeTests {
    @Test("offline: 2 while the PKI is to be created, 0 once it exists")
    func detailed() throws {
        let path = try NodeCommandTests().inventory()
        let fresh = try capstan(["plan", "--offline", "--detailed-exitcode", "-i", path])
        #expect(fresh.status == 2, "\(fresh.stderr)")
        let generated = try capstan(["certs", "generate", "-i", path])
        #expect(generated.status == 0, "\(generated.stderr)")
        let done = try capstan(["plan", "--offline", "--detailed-exitcode", "-i", path])
        #expect(done.status == 0, "\(done.stdout)\(done.stderr)")
    }
}

@Suite("capstan apply --skip-phase", .tags(.unit))
struct SkipPhaseHelpTests {
    @Test("the help sends to `capstan plan`, whose phases per host are the phase runner's, in its order")
    func listed() throws {
        let path = try NodeCommandTests().inventory()
        let unknown = try capstan(["apply", "-i", path, "--skip-phase", "no-such-phase"])
        let known = try #require(unknown.stderr.range(of: "(phases: ").map { unknown.stderr[$0.upperBound...].prefix { $0 != ")" } }, "\(unknown.stderr)")
            .components(separatedBy: ", ")
        let help = try capstan(["apply", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("the names `capstan plan -i FILE` lists for the inventory, in apply's order"), "\(help)")
        let plan = try capstan(["plan", "--offline", "--output", "json", "-i", path])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any], "\(plan.stdout)\(plan.stderr)")
        let hosts = try #require(document["hosts"] as? [[String: Any]])
        var shown = Set(document["localPhases"] as? [String] ?? [])
        for host in hosts {
            let phases = try #require(host["phases"] as? [String])
            shown.formUnion(phases)
            // Each host's phases in the runner's order.
            #expect(phases == known.filter(phases.contains), "\(host["name"] ?? "?"): \(phases) against \(known)")
        }
        #expect(Set(known) == shown, "the runner's phases \(known); the plan shows \(shown.sorted())")
        // A usage error, not a failure: exit status 64, as for a phase read by the phases after it.
        #expect(unknown.status == 64, "\(unknown.stderr)")
        let needed = try capstan(["apply", "-i", try NodeCommandTests().inventory(), "--skip-phase", "kubernetes-artifacts"])
        #expect(needed.status == 64, "\(needed.stderr)")
        #expect(needed.stderr.contains("kubernetes-artifacts cannot be skipped: node-kernel, node-runtime, node-images, control-plane"), "\(needed.stderr)")
    }
}
