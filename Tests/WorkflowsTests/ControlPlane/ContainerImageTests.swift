import Foundation
import Hosts
import Inventory
import Testing
import TestSupport
@testable import Workflows

/// A containerd `ctr` double for fake host trees: `images ls` prints what `images import` recorded, and
/// `images import --base-name B FILE` names the image as containerd's archive importer does (containerd's
/// name annotation, a full OCI ref.name under B, or B:tag) with the manifest digest from the archive's
/// index.json. Every import is appended to var/lib/fake-ctr/imports.
let fakeCtr = #"""
#!/bin/sh
root=$(cd "$(dirname "$0")/../../.." && pwd)
state="$root/var/lib/fake-ctr"
mkdir -p "$state"; touch "$state/images"
[ "$1 $2 $3" = "-n k8s.io images" ] || { echo "unexpected: $*" >&2; exit 2; }
case "$4" in
ls) echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat "$state/images" ;;
import)
  [ "$5" = "--base-name" ] || { echo "no --base-name" >&2; exit 2; }
  base="$6"; file="$7"
  tar -xOf "$file" index.json | python3 -c '
import json, sys
base = sys.argv[1]
for m in json.load(sys.stdin)["manifests"]:
    a = m.get("annotations", {})
    name = a.get("io.containerd.image.name") or a.get("org.opencontainers.image.ref.name", "")
    if "io.containerd.image.name" not in a and name and not any(c in name for c in "/:@"):
        name = base + ":" + name
    print(name, "application/vnd.oci.image.manifest.v1+json", m["digest"], "1.0 KiB", "linux/amd64", "-")
' "$base" >> "$state/images" || exit 1
  echo "$file" >> "$state/imports" ;;
*) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""#

/// Flips the archive on its way to the host, as a broken disk or a man in the middle would.
struct TamperingConnector: HostConnector {
    let inner: SystemdDoubleConnector
    let hosts: Set<String>
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        let connection = try await inner.connect(endpoint)
        guard hosts.contains(endpoint.name), let double = connection as? SystemdDoubleConnection else { return connection }
        return TamperingConnection(inner: double)
    }
}

struct TamperingConnection: HostConnection {
    let inner: SystemdDoubleConnection
    var hostName: String { inner.hostName }
    func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult { try await inner.run(command, options: options) }
    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        try await inner.stream(command, options: options, onStdout: onStdout)
    }
    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws { try await inner.write(data, to: path, attributes: attributes) }
    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws {
        var data = FileManager.default.contents(atPath: localFile) ?? Data()
        if path.hasSuffix(".oci.tar") { data.append(0x0a) }
        try await inner.write(data, to: path, attributes: attributes)
    }
    func read(_ path: String) async throws -> Data? { try await inner.read(path) }
    func download(_ path: String, toLocalFile localPath: String) async throws { try await inner.download(path, toLocalFile: localPath) }
    func close() async {}
}

@Suite("Container images for air-gapped nodes", .tags(.unit))
struct ContainerImageTests {
    @Test("references are normalized as containerd names them; archive names are flat")
    func references() throws {
        #expect(ImageReference("registry.k8s.io/pause:3.10")?.description == "registry.k8s.io/pause:3.10")
        #expect(ImageReference("prom/prometheus:v2.53.1")?.description == "docker.io/prom/prometheus:v2.53.1")
        #expect(ImageReference("busybox:1.36")?.description == "docker.io/library/busybox:1.36")
        #expect(ImageReference("localhost:5000/a/b:1")?.repository == "localhost:5000/a/b")
        #expect(ImageReference("harbor.example.com:5000/team/app@sha256:" + String(repeating: "a", count: 64))?.digest == "sha256:" + String(repeating: "a", count: 64))
        #expect(ImageReference("registry.k8s.io/pause") == nil, "a reference without tag or digest is not pinned")
        #expect(ImageReference("registry.k8s.io/coredns/coredns:v1.11.3")?.archiveName == "registry.k8s.io_coredns_coredns_v1.11.3.oci.tar")
        #expect(ImageReference("registry.k8s.io/coredns/coredns:v1.11.3")?.registry == "registry.k8s.io")
    }

    @Test("the images a cluster needs: pause everywhere; CoreDNS and monitoring only for a self-managed cluster that runs them")
    func requiredImages() throws {
        let versions = Fixture.versions
        var inventory = Fixture.inventory()
        #expect(ContainerImages.required(for: inventory, versions: versions) == ["registry.k8s.io/pause:3.10", "registry.k8s.io/coredns/coredns:v1.11.3"])
        inventory.addons.monitoring = true
        inventory.addons.dns.image = "harbor.example.com/dns/coredns:v1.11.3"
        #expect(ContainerImages.required(for: inventory, versions: versions) == [
            "registry.k8s.io/pause:3.10", "harbor.example.com/dns/coredns:v1.11.3", "prom/prometheus:v2.53.1", "prom/node-exporter:v1.8.2",
        ])
        inventory.addons.dns.enabled = false
        inventory.addons.monitoring = false
        #expect(ContainerImages.required(for: inventory, versions: versions) == ["registry.k8s.io/pause:3.10"])
        // The sandbox image follows kubeadm's pause per minor.
        #expect(ComponentVersions.defaults(for: SemanticVersion(1, 30, 2))?.sandboxImage == "registry.k8s.io/pause:3.9")
        #expect(ComponentVersions.defaults(for: SemanticVersion(1, 32, 0))?.sandboxImage == "registry.k8s.io/pause:3.10")
    }

    @Test("the imported name follows containerd's archive importer; index.json must name the image")
    func indexNames() throws {
        let base = "registry.k8s.io/pause"
        #expect(OCIIndex.importedName(annotations: [OCIIndex.refName: "3.10"], base: base) == "registry.k8s.io/pause:3.10")
        #expect(OCIIndex.importedName(annotations: [OCIIndex.refName: "registry.k8s.io/pause:3.10"], base: base) == "registry.k8s.io/pause:3.10")
        #expect(OCIIndex.importedName(annotations: [OCIIndex.refName: "pause:3.10"], base: base) == nil, "a full name under another base is filtered out")
        #expect(OCIIndex.importedName(annotations: [OCIIndex.containerdName: "x/y:1", OCIIndex.refName: "1"], base: base) == "x/y:1")
        let reference = try #require(ImageReference("registry.k8s.io/pause:3.10"))
        let digest = "sha256:" + String(repeating: "b", count: 64)
        let index = Data(#"{"schemaVersion":2,"manifests":[{"digest":"\#(digest)","annotations":{"org.opencontainers.image.ref.name":"3.10"}}]}"#.utf8)
        #expect(try OCIIndex.digest(of: index, naming: reference, archive: "p.oci.tar") == digest)
        let other = Data(#"{"schemaVersion":2,"manifests":[{"digest":"\#(digest)","annotations":{"org.opencontainers.image.ref.name":"registry.k8s.io/pause:3.9"}}]}"#.utf8)
        #expect {
            try OCIIndex.digest(of: other, naming: reference, archive: "p.oci.tar")
        } throws: { "\($0)".contains("does not name registry.k8s.io/pause:3.10 (it names registry.k8s.io/pause:3.9)") }
    }

    @Test("ctr images ls output parses to name → digest")
    func listParsing() {
        let text = """
        REF                                                                                                     TYPE                                                      DIGEST                                                                  SIZE      PLATFORMS   LABELS
        registry.k8s.io/pause:3.10                                                                              application/vnd.oci.image.manifest.v1+json                sha256:1111111111111111111111111111111111111111111111111111111111111111 1.1 MiB   linux/amd64 -
        sha256:2222222222222222222222222222222222222222222222222222222222222222                                 application/vnd.oci.image.manifest.v1+json                sha256:1111111111111111111111111111111111111111111111111111111111111111 1.1 MiB   linux/amd64 io.cri-containerd.image=managed
        """
        let images = ContainerdImageList.parse(text)
        #expect(images["registry.k8s.io/pause:3.10"] == "sha256:" + String(repeating: "1", count: 64))
        #expect(images.count == 2)
    }

    /// A release source with the pause image as an OCI archive in images/ and its SHA256SUMS.
    static func sourceWithPause(_ base: String) throws -> OCIArchive.Built {
        try Fixture.write("pause\n", to: base + "/rootfs-pause")
        let reference = try #require(ImageReference(Fixture.versions.sandboxImage))
        try FileManager.default.createDirectory(atPath: base + "/source/images", withIntermediateDirectories: true)
        let built = try OCIArchive.build(at: base + "/source/images/" + reference.archiveName, files: ["pause": base + "/rootfs-pause"],
                                         annotations: [OCIIndex.refName: reference.description], command: ["/pause"])
        try Fixture.write("\(built.sha256)  \(reference.archiveName)\n", to: base + "/source/images/SHA256SUMS")
        return built
    }

    /// Fake host trees and a release source with the pause archive, resolved for `inventory`.
    static func resolvedWithPause(_ base: String, _ inventory: Inventory) async throws -> (NodeArtifacts, OCIArchive.Built) {
        _ = try await Fixture.cluster(base, inventory: inventory)
        let built = try sourceWithPause(base)
        let store = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache")
        return (try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: Fixture.versions), built)
    }

    func installFakeCtr(_ base: String, hosts: [String]) throws {
        for host in hosts { try Fixture.write(fakeCtr, to: base + "/hosts/\(host)/usr/local/bin/ctr", mode: 0o755) }
    }

    func imagesPhase(_ inventory: Inventory, _ artifacts: NodeArtifacts) throws -> Phase {
        try #require(try WorkerWorkflow.preparationPhases(inventory: inventory, artifacts: artifacts, settings: Fixture.settings)
            .first { $0.name == WorkerWorkflow.imagesPhase })
    }

    func imports(_ base: String, _ host: String) -> [String] {
        (try? String(contentsOfFile: base + "/hosts/\(host)/var/lib/fake-ctr/imports", encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    }

    @Test("apply imports the pause archive on every node once; a re-run imports nothing; plan before containerd runs plans the imports")
    func importOnce() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let (artifacts, built) = try await Self.resolvedWithPause(base, inventory)
        #expect(artifacts.images.map(\.reference.description) == ["registry.k8s.io/pause:3.10"])
        #expect(artifacts.images.first?.digest == built.manifestDigest)
        #expect(artifacts.images.first?.sha256 == built.sha256)
        // CoreDNS is needed (cluster DNS is on) but not in this source: a warning, nodes pull it.
        #expect(artifacts.warnings.contains { $0.hasPrefix("image registry.k8s.io/coredns/coredns:v1.11.3 is not in the artifact source") }, "\(artifacts.warnings)")
        let phase = try imagesPhase(inventory, artifacts)
        let hosts = ["h1", "h2", "h3"]
        let connector = SystemdDoubleConnector(base: base + "/hosts", systemd: SystemdDouble())

        // No ctr on the hosts yet (containerd not installed): plan lists every import and changes nothing.
        let planned = WorkflowContext(mode: .plan, connector: connector, endpoints: Fixture.endpoints(hosts), output: CollectingOutput(), now: { Date() })
        let plan = try await PhaseRunner().run(Workflow(name: "plan", phases: [phase]), in: planned)
        #expect(plan.actions.map(\.host).sorted() == hosts)
        #expect(plan.actions.allSatisfy { $0.description.hasPrefix("import image registry.k8s.io/pause:3.10 (\(built.manifestDigest.prefix(19))…) from registry.k8s.io_pause_3.10.oci.tar") }, "\(plan.actions)")

        try installFakeCtr(base, hosts: hosts)
        let ctx = WorkflowContext(mode: .apply, connector: connector, endpoints: Fixture.endpoints(hosts), output: CollectingOutput(), now: { Date() })
        let first = try await PhaseRunner().run(Workflow(name: "apply", phases: [phase]), in: ctx)
        #expect(first.actions.count == 3)
        for host in hosts {
            #expect(imports(base, host).count == 1, "\(host)")
            let listed = try String(contentsOfFile: base + "/hosts/\(host)/var/lib/fake-ctr/images", encoding: .utf8)
            #expect(listed.contains("registry.k8s.io/pause:3.10 application/vnd.oci.image.manifest.v1+json \(built.manifestDigest)"))
            #expect(!FileManager.default.fileExists(atPath: base + "/hosts/\(host)/var/lib/capstan/images/registry.k8s.io_pause_3.10.oci.tar"), "the staged archive stays behind on \(host)")
        }
        let again = WorkflowContext(mode: .apply, connector: connector, endpoints: Fixture.endpoints(hosts), output: CollectingOutput(), now: { Date() })
        let second = try await PhaseRunner().run(Workflow(name: "apply", phases: [phase]), in: again)
        #expect(second.actions.isEmpty, "\(second.actions)")
        for host in hosts { #expect(imports(base, host).count == 1, "\(host) imported again") }
    }

    @Test("an archive changed on its way to a host is refused there by SHA-256, naming host and file; nothing is imported")
    func tamperedOnTheWay() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let (artifacts, built) = try await Self.resolvedWithPause(base, inventory)
        try installFakeCtr(base, hosts: ["h1", "h2", "h3"])
        let connector = TamperingConnector(inner: SystemdDoubleConnector(base: base + "/hosts", systemd: SystemdDouble()), hosts: ["h2"])
        let ctx = WorkflowContext(mode: .apply, connector: connector, endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: CollectingOutput(), now: { Date() })
        do {
            _ = try await PhaseRunner().run(Workflow(name: "apply", phases: [try imagesPhase(inventory, artifacts)]), in: ctx)
            Issue.record("a tampered archive was imported")
        } catch let WorkflowError.phaseFailed(phase, failures, _) {
            #expect(phase == WorkerWorkflow.imagesPhase)
            #expect(failures.map(\.host) == ["h2"])
            let message = failures.first?.message ?? ""
            #expect(message.contains("import registry.k8s.io_pause_3.10.oci.tar on h2"), "\(message)")
            #expect(message.contains("says \(built.sha256)"), "\(message)")
            #expect(message.contains("Nothing was imported"), "\(message)")
        }
        #expect(imports(base, "h2").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: base + "/hosts/h2/var/lib/capstan/images/registry.k8s.io_pause_3.10.oci.tar"))
        #expect(imports(base, "h1").count == 1 && imports(base, "h3").count == 1)
    }

    @Test("the bundle: a tampered archive in the source is refused before any host; a misnamed one is refused with what it names; bundleImages lists exactly what it copied")
    func bundleAndRefusals() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        try Fixture.releaseSource(base + "/source", versions: Fixture.versions)
        let built = try Self.sourceWithPause(base)
        let store = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache")
        let references = ContainerImages.required(for: inventory, versions: Fixture.versions).compactMap(ImageReference.init)
        let (written, missing) = try await store.bundleImages(references, into: base + "/bundle")
        #expect(written == ["images/registry.k8s.io_pause_3.10.oci.tar", "images/SHA256SUMS"])
        #expect(missing.map(\.description) == ["registry.k8s.io/coredns/coredns:v1.11.3"])
        #expect(try String(contentsOfFile: base + "/bundle/images/SHA256SUMS", encoding: .utf8) == "\(built.sha256)  registry.k8s.io_pause_3.10.oci.tar\n")
        #expect(ContainerImages.fillCommand(missing[0], bundle: "/b").hasPrefix("skopeo copy docker://registry.k8s.io/coredns/coredns:v1.11.3 oci-archive:/b/images/registry.k8s.io_coredns_coredns_v1.11.3.oci.tar:registry.k8s.io/coredns/coredns:v1.11.3"))

        // Tampered after its checksum was listed.
        let handle = try #require(FileHandle(forWritingAtPath: built.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("x".utf8))
        try handle.close()
        let tampered = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache-2")
        await #expect {
            _ = try await NodeArtifacts.resolve(store: tampered, inventory: inventory, versions: Fixture.versions)
        } throws: { "\($0)".contains("checksum mismatch for \(base)/source/images/registry.k8s.io_pause_3.10.oci.tar") }

        // Intact, but naming another image.
        let reference = try #require(ImageReference(Fixture.versions.sandboxImage))
        let misnamed = try OCIArchive.build(at: built.path, files: ["pause": base + "/rootfs-pause"], annotations: [OCIIndex.refName: "registry.k8s.io/pause:3.9"])
        try Fixture.write("\(misnamed.sha256)  \(reference.archiveName)\n", to: base + "/source/images/SHA256SUMS")
        let renamed = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache-3")
        await #expect {
            _ = try await NodeArtifacts.resolve(store: renamed, inventory: inventory, versions: Fixture.versions)
        } throws: { "\($0)".contains("does not name registry.k8s.io/pause:3.10 (it names registry.k8s.io/pause:3.9)") }

        // A source without images/ at all: one note, no warning, no image.
        try FileManager.default.removeItem(atPath: base + "/source/images")
        let plain = try await NodeArtifacts.resolve(store: ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache-4"),
                                                    inventory: inventory, versions: Fixture.versions)
        #expect(plain.images.isEmpty && !plain.warnings.contains { $0.contains("image") })
        #expect(plain.notes.count == 1 && plain.notes[0].contains("has no images/SHA256SUMS"), "\(plain.notes)")
    }
}
