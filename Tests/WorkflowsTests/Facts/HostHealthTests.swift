import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("status: a host's services, probes and timer backup", .tags(.unit))
struct HostHealthTests {
    // `systemctl show --property=Id,LoadState,ActiveState` for installed, failed and absent units, then the probe lines.
    let output = """
        Id=kubelet.service
        LoadState=loaded
        ActiveState=failed

        Id=kube-scheduler.service
        LoadState=not-found
        ActiveState=inactive

        Id=etcd-backup.service
        LoadState=loaded
        ActiveState=inactive

        Id=etcd-backup.timer
        LoadState=loaded
        ActiveState=active

        Id=etcd.service
        LoadState=loaded
        ActiveState=active

        api 0 ok
        kubelet 7 curl: (7) Failed to connect to 127.0.0.1 port 10248 after 0 ms: Couldn't connect to server
        metric capstan_etcd_backup_last_success_timestamp_seconds 1764681600

        """

    @Test("installed units only, a timer's service healthy unless failed, probes by exit status, the timer's last success")
    func parse() {
        let health = HostHealth.parse(output, host: "h1", api: "https://10.0.0.1:6443/readyz", kubelet: "http://127.0.0.1:10248/healthz")
        #expect(health.units.map(\.name) == ["etcd-backup.service", "etcd-backup.timer", "etcd.service", "kubelet.service"])
        #expect(health.units.filter { !$0.healthy }.map(\.name) == ["kubelet.service"])
        #expect(health.apiServer == HostHealth.Probe(url: "https://10.0.0.1:6443/readyz", ok: true, detail: "ok"))
        #expect(health.kubelet?.ok == false && health.kubelet?.detail.contains("Failed to connect") == true)
        #expect(health.lastTimerBackup == Date(timeIntervalSince1970: 1_764_681_600))
        #expect(!health.healthy)
    }

    @Test("no probe line (the unit is not installed yet): nothing probed, nothing unhealthy")
    func notInstalled() {
        let health = HostHealth.parse("Id=etcd.service\nLoadState=loaded\nActiveState=active\n\n", host: "h1", api: "https://10.0.0.1:6443/readyz", kubelet: nil)
        #expect(health.apiServer == nil && health.kubelet == nil && health.lastTimerBackup == nil)
        #expect(health.healthy)
    }

    @Test("the API server is probed on control-plane hosts of a self-managed cluster, the kubelet on nodes")
    func probes() throws {
        let yaml = """
            apiVersion: capstan.dev/v1alpha1
            kind: Cluster
            metadata:
              name: t
            spec:
              kubernetesVersion: v1.31.4
              controlPlane:
                endpoint: 10.0.0.1:6443
              hosts:
                - name: cp1
                  address: 10.0.0.1
                  roles: [control-plane, etcd]
                - name: w1
                  address: 10.0.1.1
                  roles: [worker]
            """
        let inventory = try #require(InventoryLoader.load(text: yaml, path: "t.yaml", checkFiles: false).inventory)
        let cp = HostHealth.probes(try #require(inventory.host(named: "cp1")), inventory: inventory)
        let worker = HostHealth.probes(try #require(inventory.host(named: "w1")), inventory: inventory)
        #expect(cp.api == "https://10.0.0.1:6443/readyz")
        #expect(worker.api == nil && worker.kubelet == "http://127.0.0.1:10248/healthz")
        let workerUnits = HostHealth.expectedUnits(try #require(inventory.host(named: "w1")), inventory: inventory)
        #expect(workerUnits.contains("kubelet.service") && !workerUnits.contains("etcd.service") && !workerUnits.contains("kube-apiserver.service"))
        #expect(HostHealth.expectedUnits(try #require(inventory.host(named: "cp1")), inventory: inventory).isSuperset(of: ["etcd.service", "kube-apiserver.service"]))
    }
}

extension HostHealthTests {
    @Test("a unit the host's roles no longer call for (etcd left on a former member) is listed, not judged")
    func unexpected() throws {
        var unit = HostHealth.Unit(name: "etcd.service", state: "inactive")
        #expect(!unit.healthy)
        unit.expected = false
        #expect(unit.healthy)
    }
}
