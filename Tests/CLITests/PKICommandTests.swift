import Foundation
import Testing
import TestSupport

private let managedExample = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("inventories/managed-workers.yaml").path

/// A temporary directory with a self-managed inventory of `controlPlanes` control-plane+etcd hosts and one worker.
private struct Cluster {
    let dir: URL
    var inventory: String { dir.appendingPathComponent("cluster.yaml").path }
    var state: String { dir.appendingPathComponent(".capstan/ci").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-cli-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    func write(controlPlanes: Int) throws {
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
        for i in 1...controlPlanes {
            yaml += "    - name: cp\(i)\n      address: 10.0.0.\(i)\n      roles: [control-plane, etcd]\n"
        }
        yaml += "    - name: w1\n      address: 10.0.1.1\n      roles: [worker]\n"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: inventory))
    }

    func remove() { try? FileManager.default.removeItem(at: dir) }

    /// A cluster whose PKI `capstan certs generate` has created.
    static func generated(controlPlanes: Int) throws -> Cluster {
        let cluster = try Cluster()
        try cluster.write(controlPlanes: controlPlanes)
        let r = try capstan(["certs", "generate", "-i", cluster.inventory])
        #expect(r.status == 0, "\(r.stderr)")
        return cluster
    }
}

/// The `pki` object of `capstan plan --output json`, as `[action: [name: reasons]]`.
private func pkiChanges(_ json: String) throws -> (upToDate: Bool, changes: [String: [String: [String]]]) {
    let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    let pki = try #require(doc["pki"] as? [String: Any])
    var changes: [String: [String: [String]]] = [:]
    for c in try #require(pki["changes"] as? [[String: Any]]) {
        let action = try #require(c["action"] as? String), name = try #require(c["name"] as? String)
        changes[action, default: [:]][name] = try #require(c["reasons"] as? [String])
    }
    return (try #require(pki["upToDate"] as? Bool), changes)
}

/// The line of `text` that mentions `name:` after its action.
private func line(_ text: String, _ action: String, _ name: String) -> String? {
    text.split(separator: "\n").map(String.init).first { $0.hasPrefix("  \(action) ") && $0.contains(" \(name): ") }
}

@Suite("capstan plan: PKI section", .tags(.unit))
struct PlanPKITests {
    @Test("lists creations, says up to date after certs generate, names the apiserver re-issue with the SANs added by a new control-plane host")
    func lifecycle() throws {
        let cluster = try Cluster()
        defer { cluster.remove() }
        try cluster.write(controlPlanes: 2)

        let first = try capstan(["plan", "--offline", "-i", cluster.inventory])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("PKI (\(cluster.state)): 31 to create"))
        #expect(line(first.stdout, "create", "ca")?.hasSuffix("ca: CA missing") == true)
        #expect(line(first.stdout, "create", "apiserver@cp2")?.hasSuffix("certificate missing") == true)
        #expect(line(first.stdout, "create", "kubelet.conf@w1") != nil)
        #expect(!FileManager.default.fileExists(atPath: cluster.state), "plan writes nothing")
        let firstJSON = try pkiChanges(try capstan(["plan", "--offline", "-i", cluster.inventory, "--output", "json"]).stdout)
        #expect(!firstJSON.upToDate)
        #expect(firstJSON.changes["create"]?["apiserver@cp1"] == ["certificate missing"])
        #expect(firstJSON.changes["create"]?["sa"] == ["service-account key missing"])

        let dryGenerate = try capstan(["certs", "generate", "--dry-run", "-i", cluster.inventory])
        #expect(dryGenerate.status == 0, "\(dryGenerate.stderr)")
        #expect(dryGenerate.stdout.contains("would create CA ca\n") && dryGenerate.stdout.contains("would issue apiserver@cp2 (certificate missing)"), "\(dryGenerate.stdout)")
        #expect(dryGenerate.stdout.hasSuffix("nothing written\n"), "\(dryGenerate.stdout)")
        #expect(!FileManager.default.fileExists(atPath: cluster.state), "certs generate --dry-run writes nothing")
        let generate = try capstan(["certs", "generate", "-i", cluster.inventory])
        #expect(generate.status == 0, "\(generate.stderr)")
        let second = try capstan(["plan", "--offline", "-i", cluster.inventory])
        #expect(second.status == 0)
        #expect(second.stdout.hasSuffix("PKI: up to date (\(cluster.state))\n"))
        let secondJSON = try pkiChanges(try capstan(["plan", "--offline", "-i", cluster.inventory, "--output", "json"]).stdout)
        #expect(secondJSON.upToDate && secondJSON.changes.isEmpty)

        try cluster.write(controlPlanes: 3)
        let third = try capstan(["plan", "--offline", "-i", cluster.inventory])
        #expect(third.status == 0)
        #expect(line(third.stdout, "re-issue", "apiserver@cp1")?.hasSuffix("apiserver@cp1: SANs changed: added 10.0.0.3") == true, "\(third.stdout)")
        #expect(line(third.stdout, "re-issue", "apiserver@cp2") != nil)
        #expect(line(third.stdout, "create", "apiserver@cp3") != nil)
        #expect(line(third.stdout, "re-issue", "etcd/server@cp1") == nil, "other members' certificates keep their SANs")
        let thirdJSON = try pkiChanges(try capstan(["plan", "--offline", "-i", cluster.inventory, "--output", "json"]).stdout)
        #expect(thirdJSON.changes["re-issue"]?["apiserver@cp2"] == ["SANs changed: added 10.0.0.3"])
        #expect(thirdJSON.changes["re-issue"]?.count == 2)

        let apiserver = cluster.state + "/pki/hosts/cp1/apiserver.crt"
        let before = try Data(contentsOf: URL(fileURLWithPath: apiserver))
        let dryRenew = try capstan(["certs", "renew", "--all", "--dry-run", "-i", cluster.inventory])
        #expect(dryRenew.status == 0, "\(dryRenew.stderr)")
        #expect(dryRenew.stdout.contains("would issue apiserver@cp1 (") && dryRenew.stdout.contains("requested"), "\(dryRenew.stdout)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: apiserver)) == before, "certs renew --dry-run leaves the certificate")
        let renew = try capstan(["certs", "renew", "--all", "-i", cluster.inventory])
        #expect(renew.status == 0, "\(renew.stderr)")
        #expect(try capstan(["plan", "--offline", "-i", cluster.inventory]).stdout.hasSuffix("PKI: up to date (\(cluster.state))\n"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: apiserver)) != before, "certs renew re-issued it")
        #expect(try capstan(["certs", "generate", "--dry-run", "-i", cluster.inventory]).stdout == "nothing to do (dry run; nothing written)\n")
    }

    @Test("an unreadable CA in the state makes plan print the reason and exit 1")
    func brokenState() throws {
        let cluster = try Cluster.generated(controlPlanes: 1)
        defer { cluster.remove() }
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: cluster.state + "/pki/ca.crt"))
        let r = try capstan(["plan", "--offline", "-i", cluster.inventory])
        #expect(r.status == 1)
        #expect(r.stdout.contains("PKI: cannot plan the PKI in \(cluster.state): cannot parse CA certificate"))
        #expect(r.stderr.contains("error: cannot plan the PKI"))
    }

    @Test("a managed cluster has no PKI section, in text and JSON")
    func managed() throws {
        let text = try capstan(["plan", "--offline", "--no-file-checks", "-i", managedExample])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(!text.stdout.contains("\nPKI"))
        let json = try capstan(["plan", "--offline", "--no-file-checks", "-i", managedExample, "--output", "json"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(doc["pki"] == nil)
        #expect(doc["mode"] as? String == "managed")
    }
}

@Suite("capstan kubeconfig", .tags(.unit))
struct KubeconfigCommandTests {
    /// Subject of the client certificate embedded in `kubeconfig`, and whether it verifies against `caFile`.
    func clientCertificate(_ kubeconfig: String, caFile: String, in dir: URL) throws -> (subject: String, verified: Bool) {
        let data = try runProgram(["kubectl", "--kubeconfig", kubeconfig, "config", "view", "--raw", "-o", "jsonpath={.users[0].user.client-certificate-data}"])
        #expect(data.status == 0, "\(data.stderr)")
        let pem = try #require(Data(base64Encoded: data.stdout))
        let certFile = dir.appendingPathComponent("client-\(UUID().uuidString).crt").path
        try pem.write(to: URL(fileURLWithPath: certFile))
        let subject = try runProgram(["openssl", "x509", "-in", certFile, "-noout", "-subject", "-nameopt", "RFC2253"])
        let verify = try runProgram(["openssl", "verify", "-CAfile", caFile, certFile])
        return (subject.stdout.trimmingCharacters(in: .whitespacesAndNewlines), verify.status == 0)
    }

    @Test("writes a 0600 admin kubeconfig kubectl accepts (endpoint as server, cert signed by the cluster CA); refuses to overwrite without --force")
    func writes() throws {
        let cluster = try Cluster()
        defer { cluster.remove() }
        try cluster.write(controlPlanes: 2)
        let out = cluster.dir.appendingPathComponent("admin.kubeconfig").path

        let early = try capstan(["kubeconfig", "-i", cluster.inventory, "--output", out])
        #expect(early.status == 1)
        #expect(early.stderr.contains("no admin credentials in the state directory"))
        #expect(!FileManager.default.fileExists(atPath: out))

        #expect(try capstan(["certs", "generate", "-i", cluster.inventory]).status == 0)
        let r = try capstan(["kubeconfig", "-i", cluster.inventory, "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: out)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let view = try runProgram(["kubectl", "--kubeconfig", out, "config", "view"])
        #expect(view.status == 0, "\(view.stderr)")
        #expect(view.stdout.contains("server: https://api.ci.test:6443"))
        #expect(view.stdout.contains("current-context: kubernetes-admin@ci"))
        #expect(view.stdout.contains("client-key-data: DATA+OMITTED"))
        let admin = try clientCertificate(out, caFile: cluster.state + "/pki/ca.crt", in: cluster.dir)
        #expect(admin.subject == "subject=CN=kubernetes-admin,O=kubeadm:cluster-admins")
        #expect(admin.verified)

        let written = try Data(contentsOf: URL(fileURLWithPath: out))
        let again = try capstan(["kubeconfig", "-i", cluster.inventory, "--output", out, "--user", "super-admin"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already exists; use --force"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == written)

        let forced = try capstan(["kubeconfig", "-i", cluster.inventory, "--output", out, "--user", "super-admin", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        let superAdmin = try clientCertificate(out, caFile: cluster.state + "/pki/ca.crt", in: cluster.dir)
        #expect(superAdmin.subject == "subject=CN=kubernetes-super-admin,O=system:masters")
        #expect(try runProgram(["kubectl", "--kubeconfig", out, "config", "current-context"]).stdout == "kubernetes-super-admin@ci\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cluster.dir.path).filter { $0.hasPrefix(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test("without --output it prints the same kubeconfig the state holds")
    func prints() throws {
        let cluster = try Cluster.generated(controlPlanes: 1)
        defer { cluster.remove() }
        let r = try capstan(["kubeconfig", "-i", cluster.inventory])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == (try String(contentsOfFile: cluster.state + "/kubeconfig/admin.conf", encoding: .utf8)))
    }

    @Test("a managed cluster is refused with the reason")
    func managed() throws {
        let r = try capstan(["kubeconfig", "-i", managedExample])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("cluster shop-eks is managed by Amazon EKS: the provider issues its credentials"))
    }
}
