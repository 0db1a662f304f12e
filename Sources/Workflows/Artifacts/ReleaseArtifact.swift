import Inventory
import PKI

/// One release file in its upstream layout, with the checksum file published beside it.
public struct ReleaseArtifact: Sendable, Equatable, Hashable {
    public enum Kind: Sendable, Equatable, Hashable {
        /// A single executable (kube-apiserver, kubelet, runc, …).
        case binary
        /// A gzip tarball whose files are installed (containerd, crictl, CNI plugins).
        case tarball
        /// The etcd release archive (unpacked by the etcd workflow).
        case etcdArchive
        /// A container image as an OCI archive (`images/<name>.oci.tar`), imported into containerd on nodes.
        case imageArchive
    }

    /// `kube-apiserver`, `containerd`, `cni-plugins`, …
    public var component: String
    public var version: String
    public var kind: Kind
    /// Path below the artifact directory or mirror, e.g. `kubernetes/v1.31.4/bin/linux/amd64/kubelet`.
    public var relativePath: String
    public var checksumRelativePath: String
    public var upstreamURL: String
    public var checksumUpstreamURL: String

    public var fileName: String { String(relativePath.split(separator: "/").last ?? "") }
}

/// Runtime components installed beside a Kubernetes version. One row per supported minor.
public struct ComponentVersions: Sendable, Equatable {
    public var kubernetes: SemanticVersion
    public var containerd: String
    public var runc: String
    public var crictl: String
    public var cniPlugins: String
    /// The pause image containerd uses for pod sandboxes.
    public var sandboxImage: String

    public init(kubernetes: SemanticVersion, containerd: String, runc: String, crictl: String, cniPlugins: String, sandboxImage: String) {
        self.kubernetes = kubernetes
        self.containerd = containerd
        self.runc = runc
        self.crictl = crictl
        self.cniPlugins = cniPlugins
        self.sandboxImage = sandboxImage
    }

    /// Default runtime versions per Kubernetes minor (containerd, runc, crictl, CNI plugins, pause image):
    /// the releases current when each minor was current, as kubeadm and the cri-tools project pair them.
    /// The pause image is kubeadm's `PauseVersion` (kubernetes/kubernetes cmd/kubeadm/app/constants/
    /// constants.go), which `kubeadm config images list` prints per release; the lists recorded for every
    /// release in kubernetes/minikube pkg/minikube/constants/constants_kubeadm_images.go agree: 3.9 for
    /// 1.29.x and 1.30.x, 3.10 for 1.31.x and 1.32.x. containerd's `sandbox_image` and the image `apply`
    /// imports on air-gapped nodes both follow this column.
    public static let table: [(minor: Int, containerd: String, runc: String, crictl: String, cni: String, pause: String)] = [
        (29, "1.7.13", "1.1.12", "1.29.0", "1.4.0", "registry.k8s.io/pause:3.9"),
        (30, "1.7.18", "1.1.13", "1.30.1", "1.5.0", "registry.k8s.io/pause:3.9"),
        (31, "1.7.24", "1.2.3", "1.31.1", "1.5.1", "registry.k8s.io/pause:3.10"),
        (32, "1.7.24", "1.2.3", "1.32.0", "1.6.1", "registry.k8s.io/pause:3.10"),
    ]

    /// The defaults for `kubernetes`; nil outside the supported window.
    public static func defaults(for kubernetes: SemanticVersion) -> ComponentVersions? {
        guard kubernetes.major == 1, let row = table.first(where: { $0.minor == kubernetes.minor }) else { return nil }
        return ComponentVersions(kubernetes: kubernetes, containerd: row.containerd, runc: row.runc, crictl: row.crictl,
                                 cniPlugins: row.cni, sandboxImage: row.pause)
    }
}

extension ComponentVersions {
    /// The defaults for the inventory's Kubernetes minor with its `spec.components` pins applied;
    /// an error when the minor has no defaults.
    public static func resolve(for inventory: Inventory) throws -> ComponentVersions {
        guard var versions = defaults(for: inventory.kubernetesVersion) else {
            throw WorkflowError.inventory("Kubernetes \(inventory.kubernetesVersion.tag) has no default runtime versions (supported minors: \(table.map { "1.\($0.minor)" }.joined(separator: ", "))); set spec.kubernetesVersion to a supported release")
        }
        let pins = inventory.components
        if let v = pins.containerd { versions.containerd = v.description }
        if let v = pins.runc { versions.runc = v.description }
        if let v = pins.crictl { versions.crictl = v.description }
        if let v = pins.cni { versions.cniPlugins = v.description }
        return versions
    }
}

/// Upstream layouts and URLs of every release file Capstan installs.
public enum ReleaseCatalog {
    public static let kubernetesUpstream = "https://dl.k8s.io/release"
    public static let containerdUpstream = "https://github.com/containerd/containerd/releases/download"
    public static let runcUpstream = "https://github.com/opencontainers/runc/releases/download"
    public static let crictlUpstream = "https://github.com/kubernetes-sigs/cri-tools/releases/download"
    public static let cniUpstream = "https://github.com/containernetworking/plugins/releases/download"

    public static let controlPlaneBinaries = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    public static let nodeBinaries = ["kubelet", "kube-proxy"]
    public static let clientBinaries = ["kubectl"]

    /// `kubernetes/v1.31.4/bin/linux/amd64/<name>` beside `<name>.sha256` (the hash alone).
    public static func kubernetes(_ name: String, version: SemanticVersion, architecture: String = "amd64") -> ReleaseArtifact {
        let path = "kubernetes/\(version.tag)/bin/linux/\(architecture)/\(name)"
        let url = "\(kubernetesUpstream)/\(version.tag)/bin/linux/\(architecture)/\(name)"
        return ReleaseArtifact(component: name, version: version.description, kind: .binary, relativePath: path,
                               checksumRelativePath: path + ".sha256", upstreamURL: url, checksumUpstreamURL: url + ".sha256")
    }

    /// `containerd/v1.7.24/containerd-1.7.24-linux-amd64.tar.gz` beside `….tar.gz.sha256sum`.
    public static func containerd(_ version: String, architecture: String = "amd64") -> ReleaseArtifact {
        let file = "containerd-\(version)-linux-\(architecture).tar.gz"
        let url = "\(containerdUpstream)/v\(version)/\(file)"
        return ReleaseArtifact(component: "containerd", version: version, kind: .tarball, relativePath: "containerd/v\(version)/\(file)",
                               checksumRelativePath: "containerd/v\(version)/\(file).sha256sum", upstreamURL: url,
                               checksumUpstreamURL: url + ".sha256sum")
    }

    /// `runc/v1.2.3/runc.amd64` beside `runc.sha256sum` (one list for every file of the release).
    public static func runc(_ version: String, architecture: String = "amd64") -> ReleaseArtifact {
        ReleaseArtifact(component: "runc", version: version, kind: .binary, relativePath: "runc/v\(version)/runc.\(architecture)",
                        checksumRelativePath: "runc/v\(version)/runc.sha256sum",
                        upstreamURL: "\(runcUpstream)/v\(version)/runc.\(architecture)",
                        checksumUpstreamURL: "\(runcUpstream)/v\(version)/runc.sha256sum")
    }

    /// `cri-tools/v1.31.1/crictl-v1.31.1-linux-amd64.tar.gz` beside `….tar.gz.sha256`.
    public static func crictl(_ version: String, architecture: String = "amd64") -> ReleaseArtifact {
        let file = "crictl-v\(version)-linux-\(architecture).tar.gz"
        let url = "\(crictlUpstream)/v\(version)/\(file)"
        return ReleaseArtifact(component: "crictl", version: version, kind: .tarball, relativePath: "cri-tools/v\(version)/\(file)",
                               checksumRelativePath: "cri-tools/v\(version)/\(file).sha256", upstreamURL: url,
                               checksumUpstreamURL: url + ".sha256")
    }

    /// `cni-plugins/v1.5.1/cni-plugins-linux-amd64-v1.5.1.tgz` beside `….tgz.sha256`.
    public static func cniPlugins(_ version: String, architecture: String = "amd64") -> ReleaseArtifact {
        let file = "cni-plugins-linux-\(architecture)-v\(version).tgz"
        let url = "\(cniUpstream)/v\(version)/\(file)"
        return ReleaseArtifact(component: "cni-plugins", version: version, kind: .tarball, relativePath: "cni-plugins/v\(version)/\(file)",
                               checksumRelativePath: "cni-plugins/v\(version)/\(file).sha256", upstreamURL: url,
                               checksumUpstreamURL: url + ".sha256")
    }

    /// `etcd/v3.5.15/etcd-v3.5.15-linux-amd64.tar.gz` beside the release's `SHA256SUMS`.
    public static func etcd(_ version: String, architecture: String = "amd64") -> ReleaseArtifact {
        let file = ArtifactStore.etcdArchiveName(version: version, architecture: architecture)
        return ReleaseArtifact(component: "etcd", version: version, kind: .etcdArchive, relativePath: "etcd/v\(version)/\(file)",
                               checksumRelativePath: "etcd/v\(version)/SHA256SUMS",
                               upstreamURL: "\(ArtifactOrigin.etcdUpstream)/v\(version)/\(file)",
                               checksumUpstreamURL: "\(ArtifactOrigin.etcdUpstream)/v\(version)/SHA256SUMS")
    }

    /// The runtime every node needs: containerd, runc, crictl, CNI plugins.
    public static func runtime(_ versions: ComponentVersions, architecture: String = "amd64") -> [ReleaseArtifact] {
        [containerd(versions.containerd, architecture: architecture), runc(versions.runc, architecture: architecture),
         crictl(versions.crictl, architecture: architecture), cniPlugins(versions.cniPlugins, architecture: architecture)]
    }

    /// Exactly the files `apply` of `inventory` installs: the runtime and node binaries for every node;
    /// for a self-managed cluster also the control-plane binaries, kubectl and etcd.
    public static func required(for inventory: Inventory, versions: ComponentVersions, architecture: String = "amd64") -> [ReleaseArtifact] {
        let k8s = inventory.kubernetesVersion
        var artifacts: [ReleaseArtifact] = []
        let hasNodes = inventory.hosts.contains { $0.has(.controlPlane) || $0.has(.worker) }
        if inventory.isSelfManaged {
            if let etcd = inventory.etcd.version ?? SupportedVersions.etcd(for: k8s), !inventory.etcdMembers.isEmpty {
                artifacts.append(self.etcd(etcd.description, architecture: architecture))
            }
            if !inventory.controlPlaneHosts.isEmpty {
                artifacts += (controlPlaneBinaries + clientBinaries).map { kubernetes($0, version: k8s, architecture: architecture) }
            }
        }
        if hasNodes {
            // A managed cluster's provider runs kube-proxy as a DaemonSet; only the kubelet joins.
            let binaries = inventory.isSelfManaged ? nodeBinaries : ["kubelet"]
            artifacts += binaries.map { kubernetes($0, version: k8s, architecture: architecture) }
            artifacts += runtime(versions, architecture: architecture)
        }
        return artifacts
    }
}
