import Foundation
import Testing
import TestSupport
import Lab

/// The `cluster-objects` phase on lab hosts: kubectl (Capstan's stand-in, which keeps the objects in a
/// file on the host in place of the API server's storage and logs every request) receives exactly the
/// bootstrap RBAC and CoreDNS objects, server-side with field manager capstan; a no-op re-apply sends
/// nothing; objects the inventory drops are pruned; the super-admin credential does not stay on the host.
@Suite("Cluster objects on lab hosts through capstan apply", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct ClusterObjectsLabTests {
    static let cp = ["control-plane", "etcd"]

    func requests(_ lab: Lab) throws -> [String] {
        try lab.run(in: "h1", ["sh", "-c", "cat /var/log/capstan-standin/kubectl.log 2>/dev/null || true"]).stdout
            .split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "" }
    }

    @Test("apply sends the exact objects; a no-op sends none; DNS turned off prunes CoreDNS's objects and keeps the bindings")
    func applyNoOpPrune() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let dir = Scratch.directory("objects-lab")
        let inventory = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "objlab", version: "3.5.1",
                                                          roles: [1: Self.cp, 2: Self.cp, 3: Self.cp + ["worker"]])
        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(first.succeeded, "apply failed: \(first.all)")
        let applied = try requests(lab).filter { $0.hasPrefix("apply ") }
        #expect(applied == [
            "apply rbac.authorization.k8s.io/ClusterRoleBinding//kubeadm:cluster-admins manager=capstan",
            "apply rbac.authorization.k8s.io/ClusterRoleBinding//kubeadm:node-autoapprove-certificate-rotation manager=capstan",
            "apply /ServiceAccount/kube-system/coredns manager=capstan",
            "apply rbac.authorization.k8s.io/ClusterRole//system:coredns manager=capstan",
            "apply rbac.authorization.k8s.io/ClusterRoleBinding//system:coredns manager=capstan",
            "apply /ConfigMap/kube-system/coredns manager=capstan",
            "apply apps/Deployment/kube-system/coredns manager=capstan",
            "apply /Service/kube-system/kube-dns manager=capstan",
            "apply policy/PodDisruptionBudget/kube-system/coredns manager=capstan",
        ], "\(applied)")
        let store = try lab.run(in: "h1", ["cat", "/var/lib/capstan-standin/objects.json"]).stdout
        #expect(store.contains("registry.k8s.io/coredns/coredns:v1.11.3") && store.contains("\"clusterIP\": \"10.96.0.10\""), "\(store.prefix(400))")
        // The break-glass credential was on the host only while kubectl ran.
        let leftovers = try lab.run(in: "h1", ["sh", "-c", "ls /run/capstan-kubeconfig.* /etc/kubernetes/super-admin.conf 2>/dev/null | wc -l"]).stdout
        #expect(leftovers.trimmingCharacters(in: .whitespacesAndNewlines) == "0")

        let count = try requests(lab).count
        let again = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(again.succeeded, "\(again.all)")
        #expect(!again.stdout.contains("\"kind\":\"action\""), "the no-op apply acted: \(again.stdout)")
        let noOp = Array(try requests(lab).dropFirst(count))
        #expect(noOp.contains("diff 9 object(s) unchanged") && !noOp.contains { $0.hasPrefix("apply ") || $0.hasPrefix("delete ") }, "\(noOp)")

        // The inventory turns cluster DNS off: plan names the deletions, apply prunes exactly those.
        var text = try String(contentsOfFile: inventory, encoding: .utf8)
        text = text.replacingOccurrences(of: "  hosts:\n", with: "  addons:\n    dns:\n      enabled: false\n  hosts:\n")
        try text.write(toFile: inventory, atomically: true, encoding: .utf8)
        let plan = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(plan.stdout.contains("delete Deployment/kube-system/coredns"), "\(plan.stdout)")
        let before = try requests(lab).count
        let pruned = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(pruned.succeeded, "\(pruned.all)")
        let deletes = Array(try requests(lab).dropFirst(before)).filter { $0.hasPrefix("delete ") }.sorted()
        #expect(deletes == [
            "delete /ConfigMap/kube-system/coredns", "delete /Service/kube-system/kube-dns", "delete /ServiceAccount/kube-system/coredns",
            "delete apps/Deployment/kube-system/coredns", "delete policy/PodDisruptionBudget/kube-system/coredns",
            "delete rbac.authorization.k8s.io/ClusterRole//system:coredns", "delete rbac.authorization.k8s.io/ClusterRoleBinding//system:coredns",
        ], "\(deletes)")
        let remaining = try lab.run(in: "h1", ["cat", "/var/lib/capstan-standin/objects.json"]).stdout
        #expect(remaining.contains("kubeadm:cluster-admins") && !remaining.contains("coredns"))
    }
}
