import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("Kubernetes and runtime release artifacts", .tags(.unit))
struct KubernetesArtifactTests {
    @Test("resolves every upstream layout and checksum-file format to verified files at their host paths")
    func resolveLayouts() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.releaseSource(base + "/src", versions: Fixture.versions)
        let store = ArtifactStore(origin: .localDirectory(base + "/src"), cacheDirectory: base + "/cache")
        let artifacts = try await NodeArtifacts.resolve(store: store, inventory: Fixture.inventory(), versions: Fixture.versions)
        #expect(artifacts.kubernetes.keys.sorted() == ["kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet"])
        #expect(artifacts.kubernetes["kubelet"]?.remotePath == "/usr/local/bin/kubelet")
        #expect(artifacts.runtime.map(\.remotePath) == [
            "/opt/cni/bin/bridge", "/opt/cni/bin/host-local", "/opt/cni/bin/loopback",
            "/usr/local/bin/containerd", "/usr/local/bin/containerd-shim-runc-v2", "/usr/local/bin/crictl", "/usr/local/bin/ctr",
            "/usr/local/sbin/runc",
        ])
        for file in artifacts.runtime + Array(artifacts.kubernetes.values) {
            #expect(try ArtifactStore.sha256(ofFile: file.localPath) == file.sha256)
            #expect(file.localPath.hasPrefix(base + "/cache/"))
        }
    }

    @Test("a source without crictl (Debian has no package) gives a warning and nodes without the binary; a tampered crictl still fails")
    func crictlOptional() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (pki, _) = try await Fixture.cluster(base)
        try Fixture.releaseSource(base + "/src", versions: Fixture.versions)
        let crictl = ReleaseCatalog.crictl(Fixture.versions.crictl)
        try FileManager.default.removeItem(atPath: base + "/src/cri-tools")
        let store = ArtifactStore(origin: .localDirectory(base + "/src"), cacheDirectory: base + "/cache")
        let artifacts = try await NodeArtifacts.resolve(store: store, inventory: Fixture.inventory(), versions: Fixture.versions)
        #expect(artifacts.warnings.count == 1)
        #expect(artifacts.warnings.first?.hasPrefix("crictl \(Fixture.versions.crictl) is not in the artifact source") == true, "\(artifacts.warnings)")
        #expect(artifacts.warnings.first?.contains(crictl.relativePath) == true)
        #expect(!artifacts.runtime.contains { $0.remotePath.hasSuffix("/crictl") })
        #expect(artifacts.runtime.contains { $0.remotePath == "/usr/local/bin/containerd" })

        // The deferred phases announce it once and the run goes on (plan on bare fake hosts).
        let output = CollectingOutput()
        let ctx = WorkflowContext(mode: .plan, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: SystemdDouble()),
                                  endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: output, now: { Date() })
        let phases = KubernetesWorkflow.deferredPhases(inventory: Fixture.inventory(), settings: Fixture.settings) { _ in (pki, artifacts) }
        let report = try await PhaseRunner().run(Workflow(name: "k", phases: Array(phases.prefix(4))), in: ctx)
        #expect(output.events.filter { $0.message.hasPrefix("warning: crictl") }.count == 1)
        #expect(report.actions.contains { $0.host == "h3" && $0.description == "create /etc/crictl.yaml" })
        #expect(!report.actions.contains { $0.description.contains("/usr/local/bin/crictl") })

        // Present but not matching its checksum is not "missing": refused.
        try Fixture.releaseSource(base + "/src2", versions: Fixture.versions)
        try "tampered".write(toFile: base + "/src2/" + crictl.relativePath, atomically: true, encoding: .utf8)
        let tampered = ArtifactStore(origin: .localDirectory(base + "/src2"), cacheDirectory: base + "/cache2")
        await #expect(throws: ArtifactError.self) {
            _ = try await NodeArtifacts.resolve(store: tampered, inventory: Fixture.inventory(), versions: Fixture.versions)
        }
    }

    @Test("a tampered binary is refused with both checksums; a file missing from the list is refused")
    func tampered() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.releaseSource(base + "/src", versions: Fixture.versions)
        let kubelet = ReleaseCatalog.kubernetes("kubelet", version: Fixture.versions.kubernetes)
        try "#!/bin/sh\necho evil\n".write(toFile: base + "/src/" + kubelet.relativePath, atomically: true, encoding: .utf8)
        let store = ArtifactStore(origin: .localDirectory(base + "/src"), cacheDirectory: base + "/cache")
        do {
            _ = try await store.verified(kubelet)
            Issue.record("a tampered kubelet was accepted")
        } catch let error as ArtifactError {
            guard case let .checksumMismatch(file, expected, actual) = error else { Issue.record("wrong error \(error)"); return }
            #expect(file.hasSuffix(kubelet.relativePath))
            #expect(expected != actual)
        }
        let arm = ReleaseCatalog.runc(Fixture.versions.runc, architecture: "s390x")
        await #expect(throws: ArtifactError.notInChecksumList(file: "runc.s390x", list: base + "/src/" + arm.checksumRelativePath)) {
            _ = try await store.verified(arm)
        }
    }

    @Test("an offline bundle holds exactly what the inventory needs, in the upstream layout, and installs from source: local")
    func bundleRoundTrip() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.releaseSource(base + "/src", versions: Fixture.versions)
        // The etcd release the inventory pairs with 1.31 (3.5.15), in etcd's own layout.
        let etcd = ReleaseCatalog.etcd("3.5.15")
        try Fixture.write("etcd archive\n", to: base + "/src/" + etcd.relativePath)
        try Fixture.write("\(try Fixture.sha256(base + "/src/" + etcd.relativePath))  \(etcd.fileName)\n", to: base + "/src/" + etcd.checksumRelativePath)

        let inventory = Fixture.inventory()
        let needed = ReleaseCatalog.required(for: inventory, versions: Fixture.versions)
        let store = ArtifactStore(origin: .localDirectory(base + "/src"), cacheDirectory: base + "/cache")
        let written = try await store.bundle(needed, into: base + "/bundle")
        #expect(written.count == needed.count * 2)
        var bundled: [String] = []
        if let walker = FileManager.default.enumerator(atPath: base + "/bundle") {
            for case let path as String in walker {
                var dir: ObjCBool = false
                if FileManager.default.fileExists(atPath: base + "/bundle/" + path, isDirectory: &dir), !dir.boolValue { bundled.append(path) }
            }
        }
        #expect(bundled.sorted() == written.sorted())
        #expect(written.contains("kubernetes/v1.31.4/bin/linux/amd64/kube-apiserver.sha256"))
        #expect(written.contains("containerd/v1.7.24/containerd-1.7.24-linux-amd64.tar.gz.sha256sum"))
        #expect(written.contains("etcd/v3.5.15/SHA256SUMS"))

        let offline = ArtifactStore(origin: .localDirectory(base + "/bundle"), cacheDirectory: base + "/cache2")
        let fromBundle = try await NodeArtifacts.resolve(store: offline, inventory: inventory, versions: Fixture.versions)
        let fromSource = try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: Fixture.versions)
        #expect(fromBundle.runtime.map(\.sha256) == fromSource.runtime.map(\.sha256))
        #expect(fromBundle.kubernetes.mapValues(\.sha256) == fromSource.kubernetes.mapValues(\.sha256))
    }

    @Test("a managed cluster needs only the kubelet and the runtime; versions come from one table per minor")
    func requiredSets() throws {
        var managed = Fixture.inventory()
        managed.controlPlane = ControlPlaneSpec(mode: .managed, managed: ManagedSpec(provider: .eks, apiEndpoint: "https://x.eks.amazonaws.com", caFile: "/ca.pem", joinCredentials: .bootstrapTokenFile("/t")))
        let components = ReleaseCatalog.required(for: managed, versions: Fixture.versions).map(\.component)
        #expect(components == ["kubelet", "containerd", "runc", "crictl", "cni-plugins"])
        let selfManaged = ReleaseCatalog.required(for: Fixture.inventory(), versions: Fixture.versions).map(\.component)
        #expect(selfManaged.first == "etcd")
        #expect(Set(selfManaged).isSuperset(of: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kube-proxy"]))
        #expect(ComponentVersions.defaults(for: SemanticVersion(1, 28, 0)) == nil)
        for row in ComponentVersions.table { #expect(SupportedVersions.isSupported(kubernetes: SemanticVersion(1, row.minor, 0))) }
        #expect(ReleaseCatalog.kubernetes("kubelet", version: SemanticVersion(1, 31, 4)).upstreamURL == "https://dl.k8s.io/release/v1.31.4/bin/linux/amd64/kubelet")
    }

    @Test("checksum files: hash-only, sha256sum lines, binary markers and paths")
    func checksumFormats() {
        let h = String(repeating: "ab", count: 32)
        #expect(ArtifactStore.expectedChecksum(in: h + "\n", for: "kubelet") == h)
        #expect(ArtifactStore.expectedChecksum(in: "\(h)  runc.amd64\n", for: "runc.amd64") == h)
        #expect(ArtifactStore.expectedChecksum(in: "\(h) *dist/x.tgz\n", for: "x.tgz") == h)
        #expect(ArtifactStore.expectedChecksum(in: "\(h)  other\n", for: "x.tgz") == nil)
        #expect(ArtifactStore.expectedChecksum(in: "not a hash\n", for: "x") == nil)
    }
}
