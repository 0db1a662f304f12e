import Foundation
import Testing
import TestSupport

@Suite("capstan plan: the pod network section (offline)", .tags(.unit))
struct PodNetworkPlanTests {
    func inventory(network: String) throws -> String {
        let dir = NSTemporaryDirectory() + "capstan-podnet-plan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = """
            apiVersion: capstan.dev/v1alpha1
            kind: Cluster
            metadata:
              name: podnet
            spec:
              kubernetesVersion: v1.31.4
              network:
            \(network)
              hosts:
                - {name: cp1, address: 192.168.50.11, roles: [control-plane, etcd]}
                - {name: cp2, address: 192.168.50.12, roles: [control-plane, etcd]}
                - {name: cp3, address: 192.168.50.13, roles: [control-plane, etcd]}
                - {name: w1, address: 192.168.50.21, roles: [worker]}
            """
        let path = dir + "/cluster.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("native: every node's subnet to allocate, from the pod CIDR, in inventory order")
    func native() throws {
        let r = try capstan(["plan", "--offline", "--no-file-checks", "-i", try inventory(network: "    podCIDR: 10.50.0.0/20\n    nodeSubnetSize: 26")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Pod network: native (bridge CNI + routes), podCIDR 10.50.0.0/20, /26 per node:"), "\(r.stdout)")
        #expect(r.stdout.contains("  cp1  10.50.0.0/26  (new)\n  cp2  10.50.0.64/26  (new)\n  cp3  10.50.0.128/26  (new)\n  w1  10.50.0.192/26  (new)"), "\(r.stdout)")
        #expect(r.stdout.contains("node-runtime → pod-subnets → pod-network → node-images"), "\(r.stdout)")
    }

    @Test("recorded subnets are shown as such; a pod CIDR that would move them is refused with the recorded one named")
    func recordedAndMoved() throws {
        let path = try inventory(network: "    podCIDR: 10.50.0.0/16")
        let state = (path as NSString).deletingLastPathComponent + "/.capstan/podnet/network"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let record = #"{"nodeSubnetSize": 24, "nodes": {"cp1": "10.50.7.0/24"}, "podCIDR": "10.50.0.0/16", "retired": []}"#
        try record.write(toFile: state + "/pod-subnets.json", atomically: true, encoding: .utf8)
        let r = try capstan(["plan", "--offline", "--no-file-checks", "-i", path])
        #expect(r.stdout.contains("  cp1  10.50.7.0/24  (recorded)\n  cp2  10.50.0.0/24  (new)"), "\(r.stdout)")

        try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "10.50.0.0/16", with: "10.60.0.0/16")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try capstan(["plan", "--offline", "--no-file-checks", "-i", path])
        #expect(refused.stdout.contains("live nodes would move (cp1 holds 10.50.7.0/24)"), "\(refused.stdout)")
        #expect(refused.stdout.contains("the recorded network is podCIDR 10.50.0.0/16"), "\(refused.stdout)")
    }

    @Test("none: no CNI configuration, and the plan says the nodes stay NotReady until one is installed")
    func none() throws {
        let r = try capstan(["plan", "--offline", "--no-file-checks", "-i", try inventory(network: "    plugin: none")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Pod network: none (spec.network.plugin): Capstan installs no CNI configuration; nodes stay NotReady until you install a CNI plugin"), "\(r.stdout)")
        // The phase stays (it removes a native configuration Capstan placed earlier); no subnet is allocated.
        #expect(!r.stdout.contains("pod-subnets"), "\(r.stdout)")
        let json = try capstan(["plan", "--offline", "--no-file-checks", "-i", try inventory(network: "    plugin: none"), "--output", "json"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((doc["podNetwork"] as? [String: Any])?["plugin"] as? String == "none")
    }
}
