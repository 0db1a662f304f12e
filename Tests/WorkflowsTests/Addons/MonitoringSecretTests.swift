import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
import Yams
@testable import Workflows

/// The lab inventory with a freshly generated PKI in a temporary state directory.
struct PKIFixture {
    let directory: URL
    let inventory: Inventory
    let state: StateDirectory

    static func make() async throws -> PKIFixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-addons-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("lab.yaml").path
        try FileManager.default.copyItem(atPath: AddonPaths.inventory("lab.yaml"), toPath: path)
        let inventory = try loadInventory(path)
        let state = StateDirectory(inventory: inventory)
        _ = try await PKIManager(inventory: inventory, state: state).apply(now: Date())
        return PKIFixture(directory: directory, inventory: inventory, state: state)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    func text(_ relative: String) throws -> String { String(decoding: try #require(try state.read(relative)), as: UTF8.self) }
}

@Suite("Monitoring add-on with a real PKI", .serialized, .tags(.unit))
struct MonitoringSecretTests {
    @Test("the Secret holds the etcd CA certificate and member h1's healthcheck-client pair, and no CA key anywhere")
    func secretFromState() async throws {
        let fixture = try await PKIFixture.make()
        defer { fixture.remove() }
        let material = try #require(try EtcdClientMaterial.load(inventory: fixture.inventory, state: fixture.state))
        let manifests = try MonitoringAddon.render(inventory: fixture.inventory, etcdClient: material)

        let secret = try firstDocument(manifests, "20-etcd-client-secret.yaml")
        let data = try #require(secret["data"] as? [String: String])
        #expect(Set(data.keys) == ["ca.crt", "tls.crt", "tls.key"])
        func decoded(_ key: String) throws -> Data { try #require(Data(base64Encoded: data[key] ?? "")) }
        #expect(try decoded("ca.crt") == (try fixture.state.read("pki/etcd/ca.crt")))
        #expect(try decoded("tls.crt") == (try fixture.state.read("pki/hosts/h1/etcd/healthcheck-client.crt")))
        #expect(try decoded("tls.key") == (try fixture.state.read("pki/hosts/h1/etcd/healthcheck-client.key")))
        for caKey in ["pki/etcd/ca.key", "pki/ca.key", "pki/front-proxy-ca.key", "pki/sa.key"] {
            #expect(try decoded("tls.key") != (try fixture.state.read(caKey)), "\(caKey) must never be in a manifest")
        }

        // Every byte the manifests carry, base64 payloads decoded: exactly one private key, the client's.
        var everything = manifests.combined
        for name in manifests.orderedNames {
            for doc in try documents(try file(manifests, name)) {
                for value in (doc["data"] as? [String: String] ?? [:]).values {
                    if let bytes = Data(base64Encoded: value) { everything += String(decoding: bytes, as: UTF8.self) }
                }
            }
        }
        #expect(everything.components(separatedBy: "PRIVATE KEY-----").count - 1 == 2, "one BEGIN and one END line")
        #expect(everything.contains(try fixture.text("pki/hosts/h1/etcd/healthcheck-client.key")))
        #expect(!everything.contains(try fixture.text("pki/etcd/ca.key")))

        // openssl, independently: the certificate chains to the etcd CA, is a client certificate, and matches the key.
        let dir = fixture.directory.appendingPathComponent("secret")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for key in ["ca.crt", "tls.crt", "tls.key"] { try decoded(key).write(to: dir.appendingPathComponent(key)) }
        let verify = try runProgram(["openssl", "verify", "-purpose", "sslclient", "-CAfile", dir.appendingPathComponent("ca.crt").path, dir.appendingPathComponent("tls.crt").path])
        #expect(verify.status == 0, "\(verify.output)")
        let certKey = try runProgram(["openssl", "x509", "-in", dir.appendingPathComponent("tls.crt").path, "-noout", "-pubkey"])
        let keyKey = try runProgram(["openssl", "pkey", "-in", dir.appendingPathComponent("tls.key").path, "-pubout"])
        #expect(certKey.status == 0 && keyKey.status == 0 && certKey.output == keyKey.output)
        let subject = try runProgram(["openssl", "x509", "-in", dir.appendingPathComponent("tls.crt").path, "-noout", "-subject"])
        #expect(subject.output.contains("kube-etcd-healthcheck-client"))
    }

    @Test("a managed inventory needs no PKI: no material is read")
    func managedReadsNothing() throws {
        let inventory = try loadInventory(AddonPaths.inventory("managed-workers.yaml"))
        let state = StateDirectory(root: FileManager.default.temporaryDirectory.appendingPathComponent("capstan-none-\(UUID().uuidString)").path)
        #expect(try EtcdClientMaterial.load(inventory: inventory, state: state) == nil)
    }

    @Test("a missing healthcheck-client certificate names the state file and what to run")
    func missingStateFile() throws {
        let inventory = try loadInventory(AddonPaths.inventory("lab.yaml"))
        let state = StateDirectory(root: FileManager.default.temporaryDirectory.appendingPathComponent("capstan-none-\(UUID().uuidString)").path)
        #expect {
            try EtcdClientMaterial.load(inventory: inventory, state: state)
        } throws: { "\($0)".contains("pki/etcd/ca.crt is missing") && "\($0)".contains("capstan apply") }
    }

    @Test("apply refuses with a clear message when the cluster does not answer, and sends nothing")
    func applyWhenClusterIsDown() async throws {
        let fixture = try await PKIFixture.make()
        defer { fixture.remove() }
        // The real admin kubeconfig from the PKI, pointed at a port where nothing listens.
        let admin = try fixture.text("kubeconfig/admin.conf")
        #expect(admin.contains("server: \"https://10.213.0.11:6443\""))
        let kubeconfig = fixture.directory.appendingPathComponent("admin-closed.conf")
        try admin.replacingOccurrences(of: "https://10.213.0.11:6443", with: "https://127.0.0.1:1")
            .write(to: kubeconfig, atomically: true, encoding: .utf8)
        let manifests = try MonitoringAddon.render(
            inventory: fixture.inventory, etcdClient: try EtcdClientMaterial.load(inventory: fixture.inventory, state: fixture.state))
        let recorder = RecordingRunner()
        let applier = AddonApplier(runner: recorder, kubeconfig: kubeconfig.path, timeoutSeconds: 5)
        await #expect {
            _ = try await applier.apply(manifests)
        } throws: { error in
            let text = "\(error)"
            return text.contains("the cluster does not answer") && text.contains("127.0.0.1:1") && text.contains("capstan addons render")
        }
        let commands = await recorder.commands
        #expect(commands.count == 1 && commands.first?.contains("get --raw /readyz") == true, "\(commands)")
    }

    @Test("a dry run sends the manifests with --dry-run=server, after the same reachability check")
    func applyDryRun() async throws {
        let fixture = try await PKIFixture.make()
        defer { fixture.remove() }
        // A kubectl that answers /readyz and echoes the apply it was given, as the server would mark a dry run.
        let kubectl = fixture.directory.appendingPathComponent("kubectl")
        try "#!/bin/sh\ncase \"$*\" in *readyz*) echo ok ;; *) cat >/dev/null; echo \"$*\" ;; esac\n"
            .write(to: kubectl, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: kubectl.path)
        let manifests = try MonitoringAddon.render(
            inventory: fixture.inventory, etcdClient: try EtcdClientMaterial.load(inventory: fixture.inventory, state: fixture.state))
        let recorder = RecordingRunner()
        let applier = AddonApplier(runner: recorder, kubeconfig: fixture.state.path("kubeconfig/admin.conf"), kubectl: kubectl.path)
        let dry = try await applier.apply(manifests, dryRun: true)
        #expect(dry.contains("apply --dry-run=server -f -"), "\(dry)")
        let real = try await applier.apply(manifests)
        #expect(!real.contains("--dry-run") && real.contains("apply -f -"), "\(real)")
        let commands = await recorder.commands
        #expect(commands.count == 4 && commands[0].contains("get --raw /readyz") && commands[2].contains("get --raw /readyz"), "\(commands)")
    }

    @Test("apply without a kubeconfig says where it looked and what to do")
    func applyWithoutKubeconfig() async throws {
        let applier = AddonApplier(runner: LocalConnection(), kubeconfig: "/nonexistent/admin.conf")
        await #expect {
            try await applier.requireReachable()
        } throws: { "\($0)".contains("/nonexistent/admin.conf is missing") }
    }
}

/// Runs commands for real on this machine and records them, to prove `apply -f -` never ran.
actor RecordingRunner: CommandRunner {
    nonisolated let hostName = "localhost"
    var commands: [String] = []
    let local = LocalConnection()

    func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
        commands.append(command.line)
        return try await local.run(command, options: options)
    }

    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        commands.append(command.line)
        return try await local.stream(command, options: options, onStdout: onStdout)
    }
}
