import Foundation
import Testing
import Lab
import TestSupport

/// Secrets at rest on lab hosts: every API server (the stand-in, which refuses an EncryptionConfiguration the
/// real one refuses and says which key it writes with) loads the state's key; `secrets rotate-key` rolls the
/// new key in host by host, rewrites every Secret through the API (the kubectl stand-in records, per Secret,
/// the key of the API server that stored it, as etcd would hold it), drops the old key, and continues after
/// SIGKILL from the step it recorded. `certs rotate-sa-key` moves the API servers (which report the
/// fingerprints of the service-account keys they loaded) and controller managers through verify, sign and drop.
@Suite("Secrets encryption at rest and service-account key rotation on lab hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct SecretsEncryptionLabTests {
    static let cp = ["control-plane", "etcd"]

    /// A fresh three-host cluster (h1-h3 control plane and etcd, h3 also a worker) applied on the wiped lab.
    func appliedCluster(_ name: String) throws -> (Lab, String, String) {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = Scratch.directory(name)
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "seclab", version: "3.5.1",
                                                          roles: [1: Self.cp, 2: Self.cp, 3: Self.cp + ["worker"]])
        let applied = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(applied.succeeded, "apply failed: \(applied.all)")
        return (lab, dir, inventory)
    }

    /// `capstan audit --output json`: its exit status, the failed checks as `id@host`, and how many passed.
    func auditResults(_ inventory: String) throws -> (status: Int32, failed: [String], passed: Int) {
        let run = try IntegrationLab.capstan(["audit", "-i", inventory, "--output", "json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.all)")
        let results = json["results"] as? [[String: Any]] ?? []
        let failed = results.filter { $0["status"] as? String == "fail" }.map { "\($0["id"] ?? "")@\($0["host"] ?? "")" }.sorted()
        return (run.status, failed, results.filter { $0["status"] as? String == "pass" }.count)
    }

    /// What the API server on `host` writes Secrets with and reads them with. A server that does not take the
    /// connection is asked again for up to 30 s: after a SIGKILLed rotation, a restart it started on the host
    /// goes on without it (curl: 7 cannot connect, 35 TLS handshake cut, 52 empty reply, 56 receive failure).
    func served(_ lab: Lab, _ host: String) throws -> (writer: String, readers: [String]) {
        let address = try #require(lab.hosts.first { $0.name == host }?.address)
        let deadline = Date().addingTimeInterval(30)
        let ask = { try lab.run(in: host, ["curl", "-fsS", "--cacert", "/etc/kubernetes/pki/ca.crt", "https://\(address):6443/capstan-standin/encryption"]) }
        var asked = try ask()
        while [7, 35, 52, 56].contains(asked.status) && Date() < deadline {
            usleep(500_000)
            asked = try ask()
        }
        try #require(asked.succeeded, "\(host)'s API server did not say how it encrypts: \(asked.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(asked.stdout.utf8)) as? [String: Any], "\(asked.stdout)")
        return (json["writer"] as? String ?? "", json["readers"] as? [String] ?? [])
    }

    func record(_ dir: String) -> [String: Any]? {
        IntegrationLab.jsonObject(atPath: dir + "/.capstan/seclab/pki/secrets-encryption.json")
    }

    func keyNames(_ dir: String) -> [String] {
        (record(dir)?["keys"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    func atRest(_ lab: Lab) throws -> [String: String] {
        let read = try lab.run(in: "h1", ["cat", "/var/lib/capstan-standin/objects.json.at-rest"])
        try #require(read.succeeded, "cannot read the at-rest record on h1: \(read.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: String], "\(read.stdout)")
    }

    @Test("apply gives every API server the state's key (0600); rotate-key rolls it host by host, rewrites every Secret, drops the old key, and resumes after SIGKILL")
    func encryptAndRotate() throws {
        let (lab, dir, inventory) = try appliedCluster("secrets-lab")
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
        let held = try atRest(lab)
        #expect(held == ["|Secret|default|db": "secretbox:" + new, "|Secret|kube-system|token": "secretbox:" + new], "\(held)")

        // Converged: apply changes nothing, status reads one key.
        let again = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(again.succeeded && !again.stdout.contains("\"kind\":\"action\""), "\(again.all)")
        let status = try IntegrationLab.capstan(["secrets", "status", "-i", inventory, "--output", "json"])
        #expect(status.succeeded && status.stdout.contains(new) && !status.stdout.contains(first[0]), "\(status.all)")

        // The CIS audit of the converged cluster fails no check; a key made world-readable fails 1.1.21 on that host
        // only, and apply puts the mode back.
        let audit = try auditResults(inventory)
        #expect(audit.status == 0 && audit.failed.isEmpty, "\(audit.failed)")
        #expect(audit.passed >= 150, "\(audit.passed) checks passed")
        _ = try lab.run(in: "h2", ["chmod", "644", "/etc/kubernetes/pki/apiserver.key"])
        let loose = try auditResults(inventory)
        #expect(loose.status == 1 && loose.failed == ["1.1.21@h2"], "\(loose.failed)")
        let restored = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(restored.succeeded && restored.stdout.contains("/etc/kubernetes/pki/apiserver.key"), "\(restored.all)")
        #expect(try auditResults(inventory).failed.isEmpty)
    }

    /// The service-account keys a component on `host` loaded: the API server on 6443, the controller manager on 10257.
    func serviceAccounts(_ lab: Lab, _ host: String, controllerManager: Bool = false) throws -> (signing: String, verifying: [String]) {
        let address = try #require(lab.hosts.first { $0.name == host }?.address)
        let url = controllerManager ? "https://127.0.0.1:10257" : "https://\(address):6443"
        let out = try lab.run(in: host, ["curl", "-fsSk", url + "/capstan-standin/service-accounts"]).stdout
        let json = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "\(out)")
        return (json["signing"] as? String ?? "", json["verifying"] as? [String] ?? [])
    }

    /// SHA-256 of the DER public key of a PEM private key in the state directory.
    func fingerprint(_ path: String) throws -> String {
        try sh("openssl pkey -in '\(path)' -pubout -outform DER | sha256sum | cut -c1-64").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("certs rotate-sa-key: every API server verifies with both keys, then API servers and controller managers sign with the new one, the old one is dropped after --wait; resumes after SIGKILL")
    func serviceAccountKeyRotation() throws {
        let (lab, dir, inventory) = try appliedCluster("sa-lab")
        let pki = dir + "/.capstan/seclab/pki"
        let old = try fingerprint(pki + "/sa.key")
        let hosts = ["h1", "h2", "h3"]
        for host in hosts {
            let api = try serviceAccounts(lab, host)
            #expect(api.signing == old && api.verifying == [old], "\(host): \(api)")
            #expect(try serviceAccounts(lab, host, controllerManager: true).signing == old)
        }

        let dry = try IntegrationLab.capstan(["certs", "rotate-sa-key", "-i", inventory, "--dry-run"])
        #expect(dry.succeeded && dry.stdout.contains("create the next service-account key"), "\(dry.all)")
        #expect(!FileManager.default.fileExists(atPath: pki + "/sa-rotation.json"))

        let verify = try IntegrationLab.capstan(["certs", "rotate-sa-key", "-i", inventory, "--yes", "--stop-after-verify"])
        #expect(verify.succeeded, "\(verify.all)")
        let new = try fingerprint(pki + "/sa-next.key")
        #expect(new != old)
        for host in hosts {
            let api = try serviceAccounts(lab, host)
            #expect(api.signing == old && api.verifying == [old, new], "\(host) after verify: \(api)")
        }

        // Killed once the sign step is recorded, before every host has it.
        let killed = try IntegrationLab.capstanKilled(["certs", "rotate-sa-key", "-i", inventory, "--yes", "--wait", "1h"]) { _ in
            IntegrationLab.jsonObject(atPath: pki + "/sa-rotation.json")?["step"] as? String == "sign" ? "sign step recorded" : nil
        }
        #expect(!killed.killedAt.isEmpty, "the rotation ended before the kill point: \(killed.output)")
        let resumed = try IntegrationLab.capstan(["certs", "rotate-sa-key", "-i", inventory, "--yes", "--wait", "1h"])
        #expect(resumed.succeeded && resumed.stdout.contains("continuing the service-account key rotation") && resumed.stdout.contains("run again after"),
                "\(resumed.all)")
        #expect(try fingerprint(pki + "/sa.key") == new)
        for host in hosts {
            let api = try serviceAccounts(lab, host)
            #expect(api.signing == new && api.verifying == [new, old], "\(host) after sign: \(api)")
            #expect(try serviceAccounts(lab, host, controllerManager: true).signing == new, "\(host) controller manager")
        }

        let dropped = try IntegrationLab.capstan(["certs", "rotate-sa-key", "-i", inventory, "--yes", "--wait", "0s"])
        #expect(dropped.succeeded && dropped.stdout.contains("uses the new key only"), "\(dropped.all)")
        for host in hosts {
            let api = try serviceAccounts(lab, host)
            #expect(api.signing == new && api.verifying == [new], "\(host) after drop: \(api)")
        }
        for leftover in ["sa-rotation.json", "sa-next.key", "sa-retired.pub"] {
            #expect(!FileManager.default.fileExists(atPath: pki + "/" + leftover), "\(leftover) left in the state")
        }

        // What a run killed between pushing a file and restarting leaves: the file converged, the service older
        // than it. A rollout restarts that service (and only it) even though no file differs.
        _ = try lab.run(in: "h2", ["touch", "/etc/kubernetes/pki/sa.pub"])
        let rolled = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--yes"])
        #expect(rolled.succeeded && rolled.stdout.contains("kube-apiserver.service started before /etc/kubernetes/pki/sa.pub last changed"), "\(rolled.all)")
        let restartLines = rolled.stdout.split(separator: "\n").filter { $0.contains("systemctl restart") }
        #expect(restartLines.count == 1 && restartLines[0].contains("[h2]") && restartLines[0].contains("kube-apiserver"), "\(restartLines)")
        let again = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(again.succeeded && !again.stdout.contains("\"kind\":\"action\""), "\(again.all)")
    }
}
