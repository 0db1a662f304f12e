import Foundation
import Testing
import Lab

/// Secrets at rest on lab hosts: every API server (the stand-in, which refuses an EncryptionConfiguration the
/// real one refuses and says which key it writes with) loads the state's key; `secrets rotate-key` rolls the
/// new key in host by host, rewrites every Secret through the API (the kubectl stand-in records, per Secret,
/// the key of the API server that stored it, as etcd would hold it), drops the old key, and continues after
/// SIGKILL from the step it recorded.
@Suite("Secrets encryption at rest on lab hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"))
struct SecretsEncryptionLabTests {
    static let cp = ["control-plane", "etcd"]

    /// What the API server on `host` writes Secrets with and reads them with.
    func served(_ lab: Lab, _ host: String) throws -> (writer: String, readers: [String]) {
        let address = try #require(lab.hosts.first { $0.name == host }?.address)
        let out = try lab.run(in: host, ["curl", "-fsS", "--cacert", "/etc/kubernetes/pki/ca.crt", "https://\(address):6443/capstan-standin/encryption"]).stdout
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out)")
        return (json["writer"] as? String ?? "", json["readers"] as? [String] ?? [])
    }

    func record(_ dir: String) -> [String: Any]? {
        IntegrationLab.jsonObject(atPath: dir + "/.capstan/seclab/pki/secrets-encryption.json")
    }

    func keyNames(_ dir: String) -> [String] {
        (record(dir)?["keys"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    func atRest(_ lab: Lab) throws -> [String: String] {
        let text = try lab.run(in: "h1", ["cat", "/var/lib/capstan-standin/objects.json.at-rest"]).stdout
        return try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String], "\(text)")
    }

    @Test("apply gives every API server the state's key (0600); rotate-key rolls it host by host, rewrites every Secret, drops the old key, and resumes after SIGKILL")
    func encryptAndRotate() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = NSTemporaryDirectory() + "capstan-secrets-lab-\(getpid())"
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "seclab", version: "3.5.1",
                                                          roles: [1: Self.cp, 2: Self.cp, 3: Self.cp + ["worker"]])
        let applied = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(applied.succeeded, "apply failed: \(applied.all)")
        let first = keyNames(dir)
        try #require(first.count == 1, "\(String(describing: record(dir)))")
        let hosts = ["h1", "h2", "h3"]
        for host in hosts {
            #expect(try lab.run(in: host, ["stat", "-c", "%a", "/etc/kubernetes/encryption-config.yaml"]).stdout == "600\n")
            let (writer, readers) = try served(lab, host)
            #expect(writer == "secretbox:" + first[0] && readers == [writer, "identity"], "\(host): \(writer) \(readers)")
        }

        // Two Secrets written through the API: held under the first key.
        let secrets = #"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"default"},"data":{"password":"c2VjcmV0"}},{"apiVersion":"v1","kind":"Secret","metadata":{"name":"token","namespace":"kube-system"},"data":{"t":"dA=="}}]}"#
        let put = try lab.run(in: "h1", ["sh", "-c", "printf '%s' \"$1\" | kubectl --kubeconfig /etc/kubernetes/controller-manager.conf apply --server-side --field-manager test -f -", "sh", secrets])
        try #require(put.status == 0, "\(put.stdout)\(put.stderr)")
        #expect(Set(try atRest(lab).values) == ["secretbox:" + first[0]])

        // The dry run lists the first step's restarts and writes nothing.
        let before = record(dir).map { NSDictionary(dictionary: $0) }
        let dry = try IntegrationLab.capstan(["secrets", "rotate-key", "-i", inventory, "--dry-run"])
        #expect(dry.succeeded && dry.stdout.contains("record key rotation step reader") && dry.stdout.contains("[h2]"), "\(dry.all)")
        #expect(record(dir).map { NSDictionary(dictionary: $0) } == before)

        // Killed once the writer step is recorded (the new key readable everywhere, restarts for the writer under way).
        let killed = try IntegrationLab.capstanKilled(["secrets", "rotate-key", "-i", inventory, "--yes"]) { _ in
            ((record(dir)?["rotation"] as? [String: Any])?["step"] as? String) == "writer" ? "writer step recorded" : nil
        }
        #expect(!killed.killedAt.isEmpty, "the rotation ended before the kill point: \(killed.output)")
        let names = keyNames(dir)
        #expect(names.count == 2 && names[1] == first[0], "\(names)")
        let new = names[0]
        for host in hosts { #expect(try served(lab, host).readers.contains("secretbox:" + new), "\(host) cannot read the new key") }

        let resumed = try IntegrationLab.capstan(["secrets", "rotate-key", "-i", inventory, "--yes"])
        #expect(resumed.succeeded && resumed.stdout.contains("continuing the key rotation"), "\(resumed.all)")
        #expect(resumed.stdout.contains("2 Secret(s) rewritten with \(new)"), "\(resumed.stdout)")
        #expect(keyNames(dir) == [new] && record(dir)?["rotation"] == nil, "\(String(describing: record(dir)))")
        for host in hosts {
            let (writer, readers) = try served(lab, host)
            #expect(writer == "secretbox:" + new && readers == [writer, "identity"], "\(host): \(writer) \(readers)")
        }
        #expect(try atRest(lab) == ["|Secret|default|db": "secretbox:" + new, "|Secret|kube-system|token": "secretbox:" + new])

        // Converged: apply changes nothing, status reads one key.
        let again = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(again.succeeded && !again.stdout.contains("\"kind\":\"action\""), "\(again.all)")
        let status = try IntegrationLab.capstan(["secrets", "status", "-i", inventory, "--output", "json"])
        #expect(status.succeeded && status.stdout.contains(new) && !status.stdout.contains(first[0]), "\(status.all)")
    }
}
