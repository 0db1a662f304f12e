import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("Managed mode: workers join the provider's control plane", .tags(.unit))
struct ManagedJoinTests {
    static func inventory(_ base: String, credentials: JoinCredentials) -> Inventory {
        Inventory(
            name: "prod", kubernetesVersion: SemanticVersion(1, 31, 4),
            controlPlane: ControlPlaneSpec(mode: .managed, managed: ManagedSpec(
                provider: .eks, apiEndpoint: "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
                caFile: "provider-ca.pem", joinCredentials: credentials)),
            hosts: [
                HostSpec(name: "w1", address: "10.0.1.21", roles: [.worker]),
                HostSpec(name: "w2", address: "10.0.1.22", roles: [.worker]),
            ],
            sourcePath: base + "/inventory.yaml")
    }

    static let caPEM = "-----BEGIN CERTIFICATE-----\nMIIBprovider\n-----END CERTIFICATE-----\n"

    @Test("joins workers with a bootstrap token: bootstrap kubeconfig, provider CA, kubelet with --bootstrap-kubeconfig, nothing else")
    func tokenJoin() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.write(Self.caPEM, to: base + "/provider-ca.pem")
        try Fixture.write("07401b.f395accd246ae52d\n", to: base + "/token", mode: 0o600)
        let inventory = Self.inventory(base, credentials: .bootstrapTokenFile("token"))
        try Fixture.releaseSource(base + "/source", versions: Fixture.versions)
        let store = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache")
        let artifacts = try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: Fixture.versions)
        #expect(artifacts.kubernetes.keys.sorted() == ["kubelet"])
        for host in ["w1", "w2"] { try Fixture.host(base + "/hosts/" + host) }

        let phases = try KubernetesWorkflow.phases(inventory: inventory, pki: nil, artifacts: artifacts, settings: Fixture.settings)
        #expect(phases.map(\.name) == ["node-preflight", "node-kernel", "node-runtime", "node-images", "managed-join"])
        let systemd = SystemdDouble()
        let ctx = WorkflowContext(mode: .apply, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: systemd),
                                  endpoints: Fixture.endpoints(["w1", "w2"]), output: CollectingOutput(), now: { Date() })
        let report = try await PhaseRunner().run(Workflow(name: "join", phases: phases), in: ctx)
        #expect(!report.actions.contains { $0.description.contains("kube-apiserver") || $0.description.contains("etcd") || $0.description.contains("kube-proxy") })
        let secret = try #require(report.actions.first { $0.description == "create /etc/kubernetes/bootstrap-kubelet.conf" })
        #expect(secret.diff?.contains("f395accd246ae52d") == false)

        for host in ["w1", "w2"] {
            let root = base + "/hosts/" + host
            let bootstrap = try String(contentsOfFile: root + "/etc/kubernetes/bootstrap-kubelet.conf", encoding: .utf8)
            #expect(bootstrap.contains("token: \"07401b.f395accd246ae52d\""))
            #expect(bootstrap.contains("server: \"https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com\""))
            #expect(bootstrap.contains("certificate-authority-data: \(Data(Self.caPEM.utf8).base64EncodedString())"))
            let mode = try FileManager.default.attributesOfItem(atPath: root + "/etc/kubernetes/bootstrap-kubelet.conf")[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            #expect(try String(contentsOfFile: root + "/etc/kubernetes/pki/ca.crt", encoding: .utf8) == Self.caPEM)
            let unit = try String(contentsOfFile: root + "/etc/systemd/system/kubelet.service", encoding: .utf8)
            #expect(unit.contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf"))
            #expect(unit.contains("--kubeconfig=/etc/kubernetes/kubelet.conf"))
            let config = try String(contentsOfFile: root + "/var/lib/kubelet/config.yaml", encoding: .utf8)
            #expect(config.contains("rotateCertificates: true"))
            #expect(config.contains("clientCAFile: /etc/kubernetes/pki/ca.crt"))
            #expect(!FileManager.default.fileExists(atPath: root + "/etc/kubernetes/pki/apiserver.crt"))
            #expect(await systemd.active[host, default: []] == ["containerd.service", "kubelet.service"])
        }
        #expect(!(await systemd.log.contains { $0.contains("curl") }))

        let again = WorkflowContext(mode: .plan, connector: SystemdDoubleConnector(base: base + "/hosts", systemd: systemd),
                                    endpoints: Fixture.endpoints(["w1", "w2"]), output: CollectingOutput(), now: { Date() })
        #expect(try await PhaseRunner().run(Workflow(name: "join", phases: phases), in: again).actions.isEmpty)
    }

    @Test("a join kubeconfig is used as the bootstrap kubeconfig as it is; a malformed token is refused")
    func kubeconfigAndBadToken() throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.write(Self.caPEM, to: base + "/provider-ca.pem")
        let kubeconfig = "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n"
        try Fixture.write(kubeconfig, to: base + "/join.conf")
        #expect(try ManagedJoin.bootstrapKubeconfig(inventory: Self.inventory(base, credentials: .kubeconfigFile("join.conf"))) == kubeconfig)

        try Fixture.write("not-a-token\n", to: base + "/token")
        #expect(throws: WorkflowError.self) {
            try ManagedJoin.bootstrapKubeconfig(inventory: Self.inventory(base, credentials: .bootstrapTokenFile("token")))
        }
        #expect(throws: WorkflowError.self) {
            try ManagedJoin.bootstrapKubeconfig(inventory: Self.inventory(base, credentials: .bootstrapTokenFile("missing")))
        }
        #expect(throws: WorkflowError.self) {
            try ManagedJoin.bootstrapKubeconfig(inventory: Fixture.inventory())
        }
    }

    @Test("self-managed-only operations are refused for a managed cluster with a one-line reason")
    func refusals() throws {
        let managed = Self.inventory("/x", credentials: .bootstrapTokenFile("t"))
        for operation in SelfManagedOperation.allCases {
            let reason = try #require(ManagedMode.refusal(for: operation, inventory: managed))
            #expect(!reason.contains("\n"))
            #expect(reason.contains("Amazon EKS"))
            #expect(ManagedMode.refusal(for: operation, inventory: Fixture.inventory()) == nil)
        }
        #expect(throws: WorkflowError.self) {
            _ = try ControlPlaneWorkflow.phases(inventory: managed, pki: try ClusterFiles(inventory: Fixture.inventory(), state: .init(root: "/nonexistent")),
                                               artifacts: NodeArtifacts(versions: Fixture.versions, runtime: [], kubernetes: [:]))
        }
    }
}
