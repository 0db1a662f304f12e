import Foundation
import Testing
import TestSupport
import Lab

/// Managed clusters on lab hosts: three workers joined to a provider's control plane and upgraded within the
/// skew it allows. The provider is Tests/Standins/provider-standin.py on h1 (a STAND-IN: it serves the API
/// server's /version and health endpoints, nothing else); the workers run real systemd and containerd and the
/// kubelet stand-in; kubectl, on this machine as managed upgrades run it, is the kubectl stand-in, logging
/// every cordon, drain and uncordon.
@Suite("Managed clusters: worker upgrades on lab hosts (provider and Kubernetes stand-ins)", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct ManagedUpgradeLabTests {
    static let unit = "capstan-provider-standin"
    let dir = Scratch.directory("managed-lab")

    func sh(_ script: String) throws -> IntegrationLab.Run {
        try IntegrationLab.run("/bin/sh", ["-c", script])
    }

    /// The provider's CA, its API server certificate for h1's address and the operator's client pair, made
    /// with openssl; the operator's kubeconfig as kubeadm writes one.
    func providerPKI(address: String) throws {
        let r = try sh("""
            set -e; cd '\(dir)'
            curve='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
            openssl req -x509 $curve -keyout ca.key -out ca.crt -days 7 -subj /CN=provider-ca \
              -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
            openssl req $curve -keyout server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
            printf 'subjectAltName=IP:\(address)\\nextendedKeyUsage=serverAuth\\n' > server.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 7 -extfile server.ext 2>/dev/null
            openssl req $curve -keyout operator.key -out operator.csr -subj '/O=system:masters/CN=operator' 2>/dev/null
            printf 'extendedKeyUsage=clientAuth\\n' > operator.ext
            openssl x509 -req -in operator.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out operator.crt -days 7 -extfile operator.ext 2>/dev/null
            echo abcdef.0123456789abcdef > bootstrap-token
            """)
        try #require(r.succeeded, "\(r.all)")
        func b64(_ name: String) throws -> String { try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)).base64EncodedString() }
        let kubeconfig = """
            apiVersion: v1
            clusters:
            - cluster:
                certificate-authority-data: \(try b64("ca.crt"))
                server: "https://\(address):6443"
              name: "provider"
            contexts:
            - context:
                cluster: "provider"
                user: "operator"
              name: "operator@provider"
            current-context: "operator@provider"
            kind: Config
            preferences: {}
            users:
            - name: "operator"
              user:
                client-certificate-data: \(try b64("operator.crt"))
                client-key-data: \(try b64("operator.key"))

            """
        try kubeconfig.write(toFile: dir + "/operator.conf", atomically: true, encoding: .utf8)
    }

    /// (Re)starts the provider stand-in on h1 at `version` and waits until its /version answers it.
    func startProvider(_ lab: Lab, version: String, address: String) throws {
        try lab.run(in: "h1", ["sh", "-c", "systemctl stop \(Self.unit) 2>/dev/null; systemctl reset-failed \(Self.unit) 2>/dev/null; true"])
        try lab.run(in: "h1", ["systemd-run", "--unit=\(Self.unit)", "python3", "/root/provider/provider-standin.py", "--version", version,
                               "--cert", "/root/provider/server.crt", "--key", "/root/provider/server.key", "--client-ca", "/root/provider/ca.crt"])
        for _ in 0..<50 {
            let r = try sh("curl -fsS --max-time 2 --cacert '\(dir)/ca.crt' https://\(address):6443/version")
            if r.succeeded && r.stdout.contains("\"gitVersion\": \"\(version)\"") { return }
            usleep(200_000)
        }
        Issue.record("the provider stand-in on h1 did not answer /version as \(version)")
    }

    func kubelet(_ lab: Lab, _ host: String) throws -> String {
        try lab.run(in: host, ["/usr/local/bin/kubelet", "--version"]).stdout.split(separator: " ").dropFirst().first.map(String.init) ?? "none"
    }

    @Test("join three workers to the provider; kubelets newer than the provider are refused; after the provider moves, workers go in batches of maxUnavailable (cordon, drain, kubelet, health, uncordon) with kubectl on this machine; a dry run changes nothing; rollback is refused")
    func managedWorkers() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let provider = lab.layout.hostAddress(1)
        try providerPKI(address: provider)
        try lab.run(in: "h1", ["mkdir", "-p", "/root/provider"])
        for (source, name) in [(IntegrationLab.repository + "/Tests/Standins/provider-standin.py", "provider-standin.py"),
                               (dir + "/server.crt", "server.crt"), (dir + "/server.key", "server.key"), (dir + "/ca.crt", "ca.crt")] {
            let b64 = try Data(contentsOf: URL(fileURLWithPath: source)).base64EncodedString()
            try lab.run(in: "h1", ["sh", "-c", "echo \(b64) | base64 -d > /root/provider/\(name)"])
        }
        defer { _ = try? lab.run(in: "h1", ["sh", "-c", "systemctl stop \(Self.unit) 2>/dev/null; true"]) }
        try startProvider(lab, version: "v1.31.4-eks-standin", address: provider)

        let artifacts = try KubernetesUpgradeLabTests().artifacts()
        // The lab inventory with the provider's control plane in place of Capstan's (and of etcd).
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "managed-lab", artifacts: artifacts,
                                                          roles: [2: ["worker"], 3: ["worker"], 4: ["worker"]])
        let selfManaged = try String(contentsOfFile: inventory, encoding: .utf8)
        let block = try #require(selfManaged.range(of: "  controlPlane:\n[\\s\\S]*?topology: stacked\n", options: .regularExpression))
        try selfManaged.replacingCharacters(in: block, with: """
              controlPlane:
                mode: managed
                managed:
                  provider: eks
                  apiEndpoint: https://\(provider):6443
                  caFile: ca.crt
                  joinCredentials:
                    bootstrapTokenFile: bootstrap-token
              upgrade:
                maxUnavailable: 2

            """).write(toFile: inventory, atomically: true, encoding: .utf8)

        let applied = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(applied.succeeded, "\(applied.all)")
        for host in ["h2", "h3", "h4"] { #expect(try kubelet(lab, host) == "v1.31.4") }

        // A kubelet newer than the provider's API server: refused before anything is read twice or changed.
        let ahead = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.32.0"])
        #expect(ahead.status == 1 && ahead.stdout.contains("control plane: v1.31.4-eks-standin") && ahead.stdout.contains("newer than the provider's API server v1.31.4"), "\(ahead.all)")
        #expect(ahead.stdout.contains("verdict: refused"), "\(ahead.stdout)")
        let noCredentials = try IntegrationLab.capstan(["upgrade", "apply", "-i", inventory, "--to", "v1.32.0", "--yes"])
        #expect(noCredentials.status == 64 && noCredentials.stderr.contains("--kubeconfig"), "\(noCredentials.all)")

        // The provider moves to 1.32: two batches of maxUnavailable 2.
        try startProvider(lab, version: "v1.32.0-eks-standin", address: provider)
        let plan = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.32.0", "--output", "json"])
        #expect(plan.succeeded, "\(plan.all)")
        let planned = (try? JSONSerialization.jsonObject(with: Data(plan.stdout.utf8))) as? [String: Any] ?? [:]
        #expect((planned["steps"] as? [[String: Any]] ?? []).map { ($0["hosts"] as? [String] ?? []).joined(separator: ",") } == ["h2,h3", "h4"], "\(plan.stdout)")
        #expect(planned["controlPlane"] as? String == "v1.32.0-eks-standin")

        // The kubectl stand-in scripts/standin-artifacts.sh made, run here as the operator runs kubectl.
        let kubectl = artifacts + "/kubernetes/v1.32.0/bin/linux/amd64/kubectl"
        let log = dir + "/kubectl.log"
        let env = ["CAPSTAN_STANDIN_KUBECTL_LOG": log]
        func calls() -> [String] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map { $0.split(separator: " ").dropFirst().prefix(2).joined(separator: " ") }
        }
        let credentials = ["--kubeconfig", dir + "/operator.conf", "--kubectl", kubectl]

        let dry = try IntegrationLab.run(IntegrationLab.capstanPath, ["upgrade", "apply", "-i", inventory, "--to", "v1.32.0", "--dry-run"] + credentials, environment: env)
        #expect(dry.succeeded && dry.stdout.contains("upgrade apply (dry run): would make ") && dry.stdout.contains("kubectl drain h2"), "\(dry.all)")
        #expect(calls().isEmpty, "a dry run ran kubectl: \(calls())")
        for host in ["h2", "h3", "h4"] { #expect(try kubelet(lab, host) == "v1.31.4") }

        let run = try IntegrationLab.run(IntegrationLab.capstanPath, ["upgrade", "apply", "-i", inventory, "--to", "v1.32.0", "--yes"] + credentials, environment: env)
        #expect(run.succeeded && run.stdout.contains("upgrade complete: kubelet v1.32.0 on h2, h3, h4"), "\(run.all)")
        for host in ["h2", "h3", "h4"] { #expect(try kubelet(lab, host) == "v1.32.0") }
        #expect(calls() == ["cordon h2", "cordon h3", "drain h2", "drain h3", "uncordon h2", "uncordon h3", "cordon h4", "drain h4", "uncordon h4"], "\(calls())")

        let after = try IntegrationLab.capstan(["upgrade", "plan", "-i", inventory, "--to", "v1.32.0"])
        #expect(after.succeeded && after.stdout.contains("verdict: nothing to upgrade"), "\(after.all)")
        let rollback = try IntegrationLab.capstan(["upgrade", "rollback", "-i", inventory, "--yes"])
        #expect(rollback.status == 2 && rollback.stderr.contains("managed"), "\(rollback.all)")
    }
}
