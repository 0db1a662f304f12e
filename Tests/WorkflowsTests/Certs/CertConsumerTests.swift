import Foundation
import Inventory
import PKI
import Templates
import Testing
import TestSupport
@testable import Workflows

/// The table of which service reads which PKI file decides what a rotation restarts; these tests hold
/// it against the rendered unit files and configs, so a flag added to a template cannot go unnoticed.
@Suite("certificate consumers: which services restart for which PKI file", .tags(.unit))
struct CertConsumerTests {
    @Test("every PKI file of a control-plane host is read by exactly the services whose rendered units or configs name it")
    func tableMatchesRenderedUnits() async throws {
        let base = NSTemporaryDirectory() + "capstan-consumers-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let inventory = Fixture.inventory()
        let state = StateDirectory(root: base + "/state")
        try await PKIPhase.create(PKIManager(inventory: inventory, state: state), now: Date())
        let cluster = try ClusterFiles(inventory: inventory, state: state)
        let renderer = TemplateRenderer()
        let required = try CertificateCatalog.required(for: inventory)
        for host in inventory.hosts {
            var texts: [CertConsumer: String] = [:]
            func text(_ spec: ServiceSpec) -> String {
                ([spec.unitFile] + spec.inputs).map { String(decoding: $0.content, as: UTF8.self) }.joined(separator: "\n")
            }
            let node = try NodeFiles.render(host: host, inventory: inventory, versions: Fixture.versions, renderer: renderer)
            texts[.kubelet] = text(node.kubelet)
            texts[.kubeProxy] = try text(#require(node.kubeProxy))
            if host.has(.controlPlane) {
                let cp = try ControlPlaneFiles.render(host: host, inventory: inventory, files: cluster, renderer: renderer)
                texts[.apiServer] = text(cp.apiServer)
                texts[.controllerManager] = text(cp.controllerManager)
                texts[.scheduler] = text(cp.scheduler)
            }
            let files = PKIManager.hostFiles(for: host, required: required, inventory: inventory)
            #expect(files.count > 2, "\(host.name) receives too few files to prove anything")
            for file in files {
                let table = Set(CertConsumer.consumers(of: file.remotePath, etcdMember: host.has(.etcd)))
                for (consumer, rendered) in texts {
                    #expect(table.contains(consumer) == rendered.contains(file.remotePath),
                            "\(host.name): \(file.remotePath) for \(consumer.rawValue): table says \(table.contains(consumer)), the rendered files say \(rendered.contains(file.remotePath))")
                }
            }
        }
    }

    @Test("etcd restarts for its files on members only; the API server for the etcd CA and its etcd client everywhere")
    func etcdFiles() {
        #expect(CertConsumer.consumers(of: "/etc/kubernetes/pki/etcd/server.crt", etcdMember: true) == [.etcd])
        #expect(CertConsumer.consumers(of: "/etc/kubernetes/pki/etcd/server.crt", etcdMember: false).isEmpty)
        #expect(CertConsumer.consumers(of: "/etc/kubernetes/pki/etcd/ca.crt", etcdMember: false) == [.apiServer])
        #expect(CertConsumer.consumers(of: "/etc/kubernetes/pki/etcd/ca.crt", etcdMember: true) == [.etcd, .apiServer])
        #expect(CertConsumer.consumers(of: "/etc/kubernetes/pki/apiserver-etcd-client.key", etcdMember: false) == [.apiServer])
        #expect(CertConsumer.consumers(of: "/etc/kubernetes/admin.conf", etcdMember: true).isEmpty, "admin.conf is for people, no service reads it")
        #expect(CertConsumer.consumers(of: "/etc/systemd/system/etcd.service", etcdMember: true).isEmpty)
    }

    @Test("each file belongs to the CA that signs it; kubeconfigs to the cluster CA; the service-account key to none")
    func authorities() {
        let pki = "/etc/kubernetes/pki/"
        #expect(CertConsumer.authority(of: pki + "ca.crt") == .cluster)
        #expect(CertConsumer.authority(of: pki + "ca.key") == .cluster)
        #expect(CertConsumer.authority(of: pki + "apiserver.crt") == .cluster)
        #expect(CertConsumer.authority(of: pki + "apiserver-kubelet-client.key") == .cluster)
        #expect(CertConsumer.authority(of: "/etc/kubernetes/kubelet.conf") == .cluster)
        #expect(CertConsumer.authority(of: pki + "front-proxy-ca.crt") == .frontProxy)
        #expect(CertConsumer.authority(of: pki + "front-proxy-client.crt") == .frontProxy)
        #expect(CertConsumer.authority(of: pki + "etcd/peer.crt") == .etcd)
        #expect(CertConsumer.authority(of: pki + "apiserver-etcd-client.crt") == .etcd)
        #expect(CertConsumer.authority(of: pki + "sa.key") == nil)
        #expect(CertConsumer.authority(of: "/etc/kubernetes/audit-policy.yaml") == nil)
    }

    @Test("on one host etcd restarts first, then the API server, then its clients")
    func restartOrder() {
        let shuffled: [CertConsumer] = [.kubeProxy, .scheduler, .apiServer, .kubelet, .etcd, .controllerManager]
        #expect(shuffled.sorted() == [.etcd, .apiServer, .controllerManager, .scheduler, .kubelet, .kubeProxy])
    }
}
