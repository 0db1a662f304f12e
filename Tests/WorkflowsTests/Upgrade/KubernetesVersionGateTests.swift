import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("A plain apply never changes the installed Kubernetes version", .tags(.unit))
struct KubernetesVersionGateTests {
    let v131 = SemanticVersion(1, 31, 4)
    let v132 = SemanticVersion(1, 32, 0)

    func host(_ name: String, _ components: [KubeComponent: SemanticVersion]) -> HostVersions {
        HostVersions(host: name, roles: [.worker], components: components)
    }

    @Test("bare hosts and hosts already on the inventory's version pass; kubectl's version does not count")
    func samePasses() {
        let running = [host("h1", [.apiserver: v131, .kubelet: v131, .kubectl: v132]), host("h2", [:])]
        #expect(KubernetesVersionGate.refusal(running: running, target: v131) == nil)
    }

    @Test("an inventory newer than what runs is refused, naming the hosts, components and capstan upgrade apply")
    func upgradeRefused() throws {
        let running = [host("h1", [.apiserver: v131, .kubelet: v132]), host("h2", [.kubelet: v131, .kubeProxy: v131])]
        let refusal = try #require(KubernetesVersionGate.refusal(running: running, target: v132))
        guard case let .refused(_, found, next) = refusal else { Issue.record("not a refusal: \(refusal)"); return }
        #expect(found == "h1 kube-apiserver 1.31.4, h2 kubelet 1.31.4, h2 kube-proxy 1.31.4; a plain apply never upgrades")
        #expect(next.contains("capstan upgrade apply -i FILE --to 1.32.0"))
    }

    @Test("an inventory left at the old version after an upgrade is refused as a downgrade")
    func downgradeRefused() throws {
        let refusal = try #require(KubernetesVersionGate.refusal(running: [host("h4", [.kubelet: v132])], target: v131))
        #expect("\(refusal)".contains("h4 kubelet 1.32.0: newer than the inventory's kubernetesVersion"))
        #expect("\(refusal)".contains("capstan upgrade rollback"))
    }
}
