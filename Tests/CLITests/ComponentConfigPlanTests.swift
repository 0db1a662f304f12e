import Foundation
import Testing
import TestSupport

@Suite("capstan plan: spec.componentConfig (offline)", .tags(.unit))
struct ComponentConfigPlanTests {
    @Test("each value is listed with Capstan's value it replaces, as text and as JSON")
    func listed() throws {
        let dir = NSTemporaryDirectory() + "capstan-componentconfig-plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cluster.yaml"
        try """
            apiVersion: capstan.dev/v1alpha1
            kind: Cluster
            metadata:
              name: tuned
            spec:
              kubernetesVersion: v1.31.4
              componentConfig:
                kubelet:
                  podPidsLimit: 8192
                  evictionHard: {memory.available: 500Mi}
                kube-proxy:
                  conntrack: {tcpEstablishedTimeout: 2h}
              hosts:
                - {name: cp1, address: 192.168.50.11, roles: [control-plane, etcd, worker]}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try capstan(["plan", "--offline", "--no-file-checks", "-i", path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("""
            Component configuration from spec.componentConfig:
              kubelet podPidsLimit: 8192  (replaces Capstan's 4096)
              kubelet evictionHard.memory.available: 500Mi  (added)
              kube-proxy conntrack.tcpEstablishedTimeout: 2h  (added)
            """), "\(r.stdout)")
        let json = try capstan(["plan", "--offline", "--no-file-checks", "--output", "json", "-i", path])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let overrides = try #require(document["componentConfig"] as? [[String: Any]])
        #expect(overrides.count == 3)
        #expect(overrides.first?["field"] as? String == "podPidsLimit" && overrides.first?["replaces"] as? String == "4096", "\(overrides)")
        #expect(overrides.first?["component"] as? String == "kubelet")
    }
}
