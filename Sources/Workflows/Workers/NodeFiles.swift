import Foundation
import Hosts
import Inventory
import Templates

/// The rendered files every node gets: kernel settings, containerd, crictl, kubelet, kube-proxy.
struct NodeFiles: Sendable {
    var kernel: [ManagedFile]
    var containerd: ServiceSpec
    var crictl: ManagedFile
    /// `/etc/containerd/certs.d/<registry>/hosts.toml` (and CAs) for `spec.containerRuntime.registries`.
    var registries: [ManagedFile]
    var registryHosts: Set<String>
    var kubelet: ServiceSpec
    /// Nil in managed mode (the provider runs kube-proxy).
    var kubeProxy: ServiceSpec?

    /// The kubelet's and kube-proxy's configuration files: 0600 root (CIS node checks on their permissions
    /// and ownership). Unit files stay 0644: systemd reads them as root and warns that a world-inaccessible unit
    /// hides nothing, since its contents are readable through systemd's API anyway.
    static let configAttributes = FileAttributes(mode: 0o600, owner: "root:root")

    static func render(host: HostSpec, inventory: Inventory, versions: ComponentVersions, renderer: TemplateRenderer,
                       bootstrapKubeconfig: String? = nil) throws -> NodeFiles {
        let name = ClusterNameContext(clusterName: inventory.name)
        let kernel = [
            ManagedFile(path: "/etc/modules-load.d/k8s.conf", text: try renderer.render("kubernetes/modules-load.conf", context: name)),
            ManagedFile(path: "/etc/sysctl.d/k8s.conf", text: try renderer.render("kubernetes/sysctl.conf", context: name)),
        ]
        let registries = try RegistryFiles.render(inventory, renderer: renderer)
        let runtime = ContainerdContext(clusterName: inventory.name, sandboxImage: versions.sandboxImage, registryAuths: registries.auths,
                                        binDir: NodeArtifacts.binDir, runcPath: NodeArtifacts.runcPath, cniBinDir: NodeArtifacts.cniBinDir)
        // With registry credentials in it, containerd's config is a secret: 0600 and no diff.
        let secret = !registries.auths.isEmpty
        let containerd = ServiceSpec(
            unit: "containerd.service",
            unitFile: ManagedFile(path: "/etc/systemd/system/containerd.service", text: try renderer.render("containerd/containerd.service", context: runtime)),
            inputs: [ManagedFile(path: runtime.configFile, text: try renderer.render("containerd/config.toml", context: runtime),
                                 attributes: FileAttributes(mode: secret ? 0o600 : 0o644), secret: secret)])
        let crictl = ManagedFile(path: "/etc/crictl.yaml", text: try renderer.render("containerd/crictl.yaml", context: runtime))

        let taints = host.taints.map { KubeletContext.Taint(key: $0.key, value: $0.value, effect: $0.effect.rawValue) }
        let kubeletContext = KubeletContext(
            clusterName: inventory.name, nodeName: host.name, nodeIP: host.clusterAddress,
            clusterDNS: inventory.network.serviceCIDR.address(at: 10).description, clusterDomain: inventory.network.clusterDomain,
            labels: host.labels, taints: taints, bootstrapKubeconfig: bootstrapKubeconfig,
            binDir: NodeArtifacts.binDir, containerRuntimeEndpoint: runtime.runtimeEndpoint,
            extraFlags: ComponentFlags.merged(.kubelet, extraArgs: inventory.extraArgs))
        let kubelet = ServiceSpec(
            unit: "kubelet.service",
            unitFile: ManagedFile(path: "/etc/systemd/system/kubelet.service", text: try renderer.render("kubernetes/kubelet.service", context: kubeletContext)),
            inputs: [ManagedFile(path: kubeletContext.configFile, text: try configFile(.kubelet, context: kubeletContext, inventory: inventory, renderer: renderer),
                                 attributes: Self.configAttributes)])

        var kubeProxy: ServiceSpec?
        if inventory.isSelfManaged {
            let proxy = KubeProxyContext(clusterName: inventory.name, nodeName: host.name, podCIDR: inventory.network.podCIDR.description,
                                         binDir: NodeArtifacts.binDir)
            kubeProxy = ServiceSpec(
                unit: "kube-proxy.service",
                unitFile: ManagedFile(path: "/etc/systemd/system/kube-proxy.service", text: try renderer.render("kubernetes/kube-proxy.service", context: proxy)),
                inputs: [ManagedFile(path: proxy.configFile, text: try configFile(.kubeProxy, context: proxy, inventory: inventory, renderer: renderer),
                                     attributes: Self.configAttributes)])
        }
        return NodeFiles(kernel: kernel, containerd: containerd, crictl: crictl, registries: registries.files,
                         registryHosts: Set(inventory.containerRuntime.registries.map(\.host)), kubelet: kubelet, kubeProxy: kubeProxy)
    }

    static func template(_ component: ConfigComponent) -> String {
        switch component {
        case .kubelet: return "kubernetes/kubelet-config.yaml"
        case .kubeProxy: return "kubernetes/kube-proxy-config.yaml"
        }
    }

    /// A component's configuration file: Capstan's template, with `spec.componentConfig` merged in when the
    /// inventory has an entry for it (without one the file is the template's, byte for byte).
    static func configFile(_ component: ConfigComponent, context: some Encodable, inventory: Inventory, renderer: TemplateRenderer) throws -> String {
        let text = try renderer.render(template(component), context: context)
        guard let config = inventory.componentConfig[component] else { return text }
        return try config.merged(into: text, from: "spec.componentConfig.\(component.rawValue)")
    }
}

public extension ComponentConfig {
    /// `spec.componentConfig`'s values against the files Capstan renders without them (the first node's), for
    /// `capstan plan`.
    static func overrides(of inventory: Inventory, renderer: TemplateRenderer = TemplateRenderer()) throws -> [Override] {
        guard !inventory.componentConfig.isEmpty, let host = WorkerWorkflow.nodes(inventory).first else { return [] }
        let kubelet = KubeletContext(clusterName: inventory.name, nodeName: host.name, nodeIP: host.clusterAddress,
                                     clusterDNS: inventory.network.serviceCIDR.address(at: 10).description,
                                     clusterDomain: inventory.network.clusterDomain)
        let proxy = KubeProxyContext(clusterName: inventory.name, nodeName: host.name, podCIDR: inventory.network.podCIDR.description)
        let defaults: [ConfigComponent: String] = [
            .kubelet: try renderer.render(NodeFiles.template(.kubelet), context: kubelet),
            .kubeProxy: try renderer.render(NodeFiles.template(.kubeProxy), context: proxy),
        ]
        let configs = inventory.componentConfig.filter { inventory.isSelfManaged || $0.key != .kubeProxy }  // the provider runs kube-proxy
        return overrides(configs, defaults: defaults)
    }
}
