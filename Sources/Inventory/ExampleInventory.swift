/// The example inventories `capstan init` writes. The same texts are the files in `inventories/`;
/// a test compares them so the two cannot drift apart. To change an example, edit the file in
/// `inventories/` and paste it here.
public struct ExampleInventory: Sendable, Equatable {
    public var name: String
    public var summary: String
    public var text: String

    public static func named(_ name: String) -> ExampleInventory? { all.first { $0.name == name } }

    public static let all: [ExampleInventory] = [
        ExampleInventory(name: "lab", summary: "the local lab: 3 hosts made by `capstan lab up` (stacked etcd 3.4.23 from Debian, local artifacts)", text: #"""
# The local lab made by `capstan lab up` (3 systemd-nspawn hosts, 10.213.0.11-13), reachable from
# this machine through the lab's veth (10.213.0.1); hosts have no route off the machine.
# `capstan lab up` writes this same inventory, with the SSH key, known_hosts, backup key and
# artifact directory it refers to, under /var/lib/capstan/lab/default.
apiVersion: capstan.dev/v1alpha1
kind: Cluster
metadata:
  name: lab
spec:
  kubernetesVersion: v1.31.4
  controlPlane:
    mode: self-managed
    endpoint: 10.213.0.11:6443
  network:
    serviceCIDR: 10.96.0.0/12
    podCIDR: 10.244.0.0/16
    clusterDomain: cluster.local
  etcd:
    version: 3.4.23
    topology: stacked
    dataDir: /var/lib/etcd
    backup:
      schedule: "*-*-* 02:00:00"
      randomizedDelay: 10m
      keep: 7
      destination:
        local: {}
      encryptionKeyFile: /var/lib/capstan/lab/default/backup.key
  pki:
    keyAlgorithm: ecdsa-p256
    caValidity: 3650d
    leafValidity: 365d
  ssh:
    user: root
    port: 22
    identityFile: /var/lib/capstan/lab/default/id_ed25519
    knownHosts:
      file: /var/lib/capstan/lab/default/known_hosts
      policy: strict
  artifacts:
    source: local
    directory: /var/cache/capstan/lab/artifacts
  components:
    # Debian bookworm's releases, which the lab's artifact directory holds; Debian has no crictl.
    containerd: 1.6.20
    runc: 1.1.5
    cni: 1.1.1
  hosts:
    - name: h1
      address: 10.213.0.11
      roles: [control-plane, etcd]
    - name: h2
      address: 10.213.0.12
      roles: [control-plane, etcd]
    - name: h3
      address: 10.213.0.13
      roles: [control-plane, etcd, worker]
      labels:
        capstan.dev/lab: "true"

"""#),
        ExampleInventory(name: "bare-metal-ha", summary: "bare-metal HA: 3 control-plane+etcd hosts, 4 workers, bastion, VIP, encrypted off-host backups", text: #"""
# A bare-metal HA cluster: three control-plane hosts that also run etcd (stacked topology),
# four workers, every host reached through a bastion. The API is served on a virtual IP
# (kube-vip/keepalived, or a load balancer in front of the three API servers) at 10.0.10.10.
# Relative paths (SSH known_hosts, the backup key) resolve against this file's directory.
apiVersion: capstan.dev/v1alpha1
kind: Cluster
metadata:
  name: prod-eu1
spec:
  kubernetesVersion: v1.31.4
  controlPlane:
    mode: self-managed
    endpoint: 10.0.10.10:6443
    extraSANs: [api.prod-eu1.example.com]
  network:
    serviceCIDR: 10.96.0.0/12
    podCIDR: 10.244.0.0/16
    clusterDomain: cluster.local
  etcd:
    version: 3.5.15          # the etcd Kubernetes 1.31 pairs with
    topology: stacked        # etcd members run on the control-plane hosts
    dataDir: /var/lib/etcd
    backup:
      schedule: "*-*-* 00/6:00:00"   # systemd OnCalendar: every 6 hours
      randomizedDelay: 10m
      keep: 28
      maxAge: 14d
      destination:
        sftp:                # off-host: snapshots leave the cluster
          host: backup.example.com
          port: 22
          user: etcd-backup
          path: /srv/backups/prod-eu1
      encryptionKeyFile: secrets/backup.key   # 32 bytes: head -c 32 /dev/urandom > secrets/backup.key
      includePKI: true
  pki:
    keyAlgorithm: ecdsa-p256  # or rsa-2048, rsa-3072, rsa-4096
    caValidity: 3650d
    leafValidity: 365d
  ssh:
    user: capstan
    become: true              # sudo for privileged commands
    agent: true
    bastion:
      address: bastion.example.com
      user: capstan
    knownHosts:
      file: known_hosts
      policy: strict          # unknown host keys are refused; accept-new appends them
  artifacts:
    source: mirror
    url: https://mirror.example.com/kubernetes
  upgrade:
    maxUnavailable: 1         # or a percentage such as "25%"
    drainTimeout: 10m
  hosts:
    - name: cp1
      address: 10.0.10.11
      roles: [control-plane, etcd]
    - name: cp2
      address: 10.0.10.12
      roles: [control-plane, etcd]
    - name: cp3
      address: 10.0.10.13
      roles: [control-plane, etcd]
    - name: worker1
      address: 10.0.20.11
      roles: [worker]
      labels:
        topology.kubernetes.io/zone: rack-a
    - name: worker2
      address: 10.0.20.12
      roles: [worker]
      labels:
        topology.kubernetes.io/zone: rack-b
    - name: worker3
      address: 10.0.20.13
      roles: [worker]
      labels:
        topology.kubernetes.io/zone: rack-c
    - name: gpu1
      address: 10.0.20.21
      roles: [worker]
      labels:
        example.com/accelerator: nvidia-l4
      taints:
        - key: example.com/gpu
          value: "true"
          effect: NoSchedule

"""#),
        ExampleInventory(name: "external-etcd", summary: "external etcd: 3 dedicated etcd hosts, 2 control-plane hosts behind a load balancer, 3 workers", text: #"""
# External etcd topology: three dedicated etcd hosts, two control-plane hosts behind a load
# balancer, three workers. etcd members are replaced, upgraded and backed up independently of
# the control plane. Relative paths resolve against this file's directory.
apiVersion: capstan.dev/v1alpha1
kind: Cluster
metadata:
  name: staging
spec:
  kubernetesVersion: v1.30.8
  controlPlane:
    endpoint: api.staging.example.com:6443   # load balancer in front of cp1 and cp2
  network:
    serviceCIDR: 10.96.0.0/16
    podCIDR: 10.200.0.0/16
  etcd:
    version: 3.5.12
    topology: external       # etcd runs on the hosts with the etcd role only
    dataDir: /var/lib/etcd
    backup:
      schedule: hourly
      keep: 48
      destination:
        local:
          path: backups      # on the machine running capstan, beside this file
      encryptionKeyFile: backup.key
  pki:
    keyAlgorithm: rsa-3072
    leafValidity: 180d
  ssh:
    user: ops
    become: true
    identityFile: ~/.ssh/id_ed25519
    knownHosts:
      policy: accept-new     # first contact records the host key; a changed key is refused
  hosts:
    - name: etcd1
      address: 192.168.50.21
      roles: [etcd]
    - name: etcd2
      address: 192.168.50.22
      roles: [etcd]
    - name: etcd3
      address: 192.168.50.23
      roles: [etcd]
    - name: cp1
      address: 192.168.50.11
      roles: [control-plane]
    - name: cp2
      address: 192.168.50.12
      roles: [control-plane]
    - name: worker1
      address: 192.168.50.31
      internalAddress: 10.10.0.31   # cluster traffic on a separate network
      roles: [worker]
    - name: worker2
      address: 192.168.50.32
      internalAddress: 10.10.0.32
      roles: [worker]
    - name: worker3
      address: 192.168.50.33
      internalAddress: 10.10.0.33
      roles: [worker]
      ssh:
        port: 2222           # per-host SSH overrides

"""#),
        ExampleInventory(name: "managed-workers", summary: "managed control plane (EKS) with self-managed workers", text: #"""
# A managed control plane (here Amazon EKS) with self-managed worker nodes. The provider runs
# the API servers, etcd and the cluster CA; Capstan joins and maintains the workers and add-ons,
# and refuses etcd, PKI and backup work with the reason. Relative paths resolve against this file.
apiVersion: capstan.dev/v1alpha1
kind: Cluster
metadata:
  name: shop-eks
spec:
  kubernetesVersion: v1.30.8   # the workers' kubelet; keep it within the control plane's minor
  controlPlane:
    mode: managed
    managed:
      provider: eks            # eks, gke, aks or other
      apiEndpoint: https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
      caFile: eks-ca.crt       # the cluster CA, e.g. from `aws eks describe-cluster`
      joinCredentials:
        bootstrapTokenFile: bootstrap-token   # or kubeconfigFile: join.kubeconfig
  network:
    serviceCIDR: 172.20.0.0/16 # must match the provider's service range (cluster DNS lives in it)
    podCIDR: 100.64.0.0/16
  ssh:
    user: ec2-user
    become: true
    identityFile: ~/.ssh/shop-eks.pem
    knownHosts:
      policy: accept-new
  upgrade:
    maxUnavailable: "34%"
  hosts:
    - name: ip-10-0-1-11.eu-west-1.compute.internal
      address: 10.0.1.11
      roles: [worker]
    - name: ip-10-0-2-12.eu-west-1.compute.internal
      address: 10.0.2.12
      roles: [worker]
    - name: ip-10-0-3-13.eu-west-1.compute.internal
      address: 10.0.3.13
      roles: [worker]
      labels:
        example.com/pool: batch
      taints:
        - key: example.com/batch
          effect: PreferNoSchedule

"""#),
    ]
}
