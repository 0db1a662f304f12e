import Foundation
import Templates
import Testing
import TestSupport

let runtimeContext = ContainerdContext(clusterName: "lab", sandboxImage: "registry.k8s.io/pause:3.10")

/// Credentials for a registry and its mirror; the password needs TOML escaping.
let authRuntimeContext = ContainerdContext(clusterName: "lab", sandboxImage: "registry.k8s.io/pause:3.9", registryAuths: [
    RegistryAuthContext(host: "harbor.example.com:5000", username: "robot$ci", password: #"p"a\ss"#),
    RegistryAuthContext(host: "mirror.example.com", username: "robot$ci", password: #"p"a\ss"#),
])

let registryHostsContext = RegistryHostsContext(
    clusterName: "lab", registry: "registry.k8s.io", server: "https://registry.k8s.io",
    mirrors: ["https://mirror.example.com:5000", "http://10.0.0.5:5000"], caPath: "/etc/containerd/certs.d/registry.k8s.io/ca.crt", skipVerify: false)

let dockerHubHostsContext = RegistryHostsContext(
    clusterName: "lab", registry: "docker.io", server: "https://registry-1.docker.io", mirrors: ["https://hub-mirror.example.com"],
    caPath: nil, skipVerify: true)

let controlPlaneContext = ControlPlaneContext(
    clusterName: "lab", nodeName: "h1", advertiseAddress: "10.213.0.11",
    etcdServers: ["https://10.213.0.11:2379", "https://10.213.0.12:2379", "https://10.213.0.13:2379"],
    serviceCIDR: "10.96.0.0/12", podCIDR: "10.244.0.0/16", clusterDomain: "cluster.local",
    // The flag lists come from Inventory's ComponentFlags in apply; here, lines of the same form.
    apiServerFlags: ["--profiling=false", "--audit-log-maxage=7"], controllerManagerFlags: ["--leader-elect=true"],
    schedulerFlags: ["--bind-address=127.0.0.1", "--leader-elect=true"])

let kubeletContext = KubeletContext(
    clusterName: "lab", nodeName: "h3", nodeIP: "10.213.0.13", clusterDNS: "10.96.0.10", clusterDomain: "cluster.local",
    labels: ["capstan.dev/lab": "true", "zone": "a"], taints: [KubeletContext.Taint(key: "dedicated", value: "infra", effect: "NoSchedule"), KubeletContext.Taint(key: "gpu", effect: "NoExecute")])

let bootstrapKubeletContext = KubeletContext(
    clusterName: "prod", nodeName: "w1", nodeIP: "10.0.1.21", clusterDNS: "172.20.0.10", clusterDomain: "cluster.local",
    bootstrapKubeconfig: "/etc/kubernetes/bootstrap-kubelet.conf")

let proxyContext = KubeProxyContext(clusterName: "lab", nodeName: "h3", podCIDR: "10.244.0.0/16")

let bootstrapContext = KubeletBootstrapContext(
    clusterName: "prod", server: "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com",
    caData: "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", token: "abcdef.0123456789abcdef")

/// A rotation's writer step: the new key first, the old one still reading (fixed test keys, not secrets).
let encryptionContext = EncryptionConfigContext(clusterName: "lab", keys: [
    .init(name: "key-20261203T070000", secret: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="),
    .init(name: "key-20261101T020000", secret: "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="),
])

/// Every Kubernetes and containerd template, rendered, compared with Golden/<template>.
/// Set CAPSTAN_UPDATE_GOLDEN=1 to rewrite them after an intended template change.
let kubernetesGoldenCases: [(template: String, golden: String, render: @Sendable (TemplateRenderer) throws -> String)] = [
    ("containerd/config.toml", "containerd/config.toml", { try $0.render("containerd/config.toml", context: runtimeContext) }),
    ("containerd/containerd.service", "containerd/containerd.service", { try $0.render("containerd/containerd.service", context: runtimeContext) }),
    ("containerd/config.toml", "containerd/config-auth.toml", { try $0.render("containerd/config.toml", context: authRuntimeContext) }),
    ("containerd/hosts.toml", "containerd/hosts.toml", { try $0.render("containerd/hosts.toml", context: registryHostsContext) }),
    ("containerd/hosts.toml", "containerd/hosts-docker.io.toml", { try $0.render("containerd/hosts.toml", context: dockerHubHostsContext) }),
    ("containerd/crictl.yaml", "containerd/crictl.yaml", { try $0.render("containerd/crictl.yaml", context: runtimeContext) }),
    ("kubernetes/kube-apiserver.service", "kubernetes/kube-apiserver.service", { try $0.render("kubernetes/kube-apiserver.service", context: controlPlaneContext) }),
    ("kubernetes/kube-controller-manager.service", "kubernetes/kube-controller-manager.service", { try $0.render("kubernetes/kube-controller-manager.service", context: controlPlaneContext) }),
    ("kubernetes/kube-scheduler.service", "kubernetes/kube-scheduler.service", { try $0.render("kubernetes/kube-scheduler.service", context: controlPlaneContext) }),
    ("kubernetes/audit-policy.yaml", "kubernetes/audit-policy.yaml", { try $0.render("kubernetes/audit-policy.yaml", context: controlPlaneContext) }),
    ("kubernetes/encryption-config.yaml", "kubernetes/encryption-config.yaml", { try $0.render("kubernetes/encryption-config.yaml", context: encryptionContext) }),
    ("kubernetes/kubelet.service", "kubernetes/kubelet.service", { try $0.render("kubernetes/kubelet.service", context: kubeletContext) }),
    ("kubernetes/kubelet.service", "kubernetes/kubelet-bootstrap.service", { try $0.render("kubernetes/kubelet.service", context: bootstrapKubeletContext) }),
    ("kubernetes/kubelet-config.yaml", "kubernetes/kubelet-config.yaml", { try $0.render("kubernetes/kubelet-config.yaml", context: kubeletContext) }),
    ("kubernetes/kube-proxy.service", "kubernetes/kube-proxy.service", { try $0.render("kubernetes/kube-proxy.service", context: proxyContext) }),
    ("kubernetes/kube-proxy-config.yaml", "kubernetes/kube-proxy-config.yaml", { try $0.render("kubernetes/kube-proxy-config.yaml", context: proxyContext) }),
    ("kubernetes/modules-load.conf", "kubernetes/modules-load.conf", { try $0.render("kubernetes/modules-load.conf", context: ClusterNameContext(clusterName: "lab")) }),
    ("kubernetes/sysctl.conf", "kubernetes/sysctl.conf", { try $0.render("kubernetes/sysctl.conf", context: ClusterNameContext(clusterName: "lab")) }),
    ("kubernetes/bootstrap-kubelet.conf", "kubernetes/bootstrap-kubelet.conf", { try $0.render("kubernetes/bootstrap-kubelet.conf", context: bootstrapContext) }),
]

/// The ExecStart flags of a rendered unit, one per continuation line.
func execStartFlags(_ unit: String) -> [String] {
    guard let start = unit.range(of: "ExecStart=") else { return [] }
    var flags: [String] = []
    for line in unit[start.upperBound...].split(separator: "\n") {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let continued = trimmed.hasSuffix("\\")
        flags.append(continued ? String(trimmed.dropLast()).trimmingCharacters(in: .whitespaces) : trimmed)
        if !continued { break }
    }
    return Array(flags.dropFirst())
}

@Suite("Kubernetes and containerd templates", .tags(.unit))
struct KubernetesTemplateTests {
    @Test("renders every Kubernetes and containerd template exactly as its golden file", arguments: kubernetesGoldenCases.indices)
    func golden(_ index: Int) throws {
        let c = kubernetesGoldenCases[index]
        let rendered = try c.render(TemplateRenderer())
        try expectGolden(rendered, golden: c.golden, template: c.template)
        #expect(!rendered.contains("{{") && !rendered.contains("&#"))
    }

    @Test("the API server unit carries etcd client TLS, service accounts, front proxy, admission, audit and authorization flags")
    func apiServerFlags() throws {
        let flags = Set(execStartFlags(try TemplateRenderer().render("kubernetes/kube-apiserver.service", context: controlPlaneContext)))
        for flag in [
            "--etcd-servers=https://10.213.0.11:2379,https://10.213.0.12:2379,https://10.213.0.13:2379",
            "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt", "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
            "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key", "--service-account-key-file=/etc/kubernetes/pki/sa.pub",
            "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
            "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
            "--profiling=false", "--audit-log-maxage=7",  // the context's flag lines, after the template's own
            "--audit-log-path=/var/log/kubernetes/audit/audit.log", "--audit-policy-file=/etc/kubernetes/audit-policy.yaml",
            "--encryption-provider-config=/etc/kubernetes/encryption-config.yaml",
            "--client-ca-file=/etc/kubernetes/pki/ca.crt", "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
            "--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
            "--service-cluster-ip-range=10.96.0.0/12", "--secure-port=6443", "--advertise-address=10.213.0.11",
        ] {
            #expect(flags.contains(flag), "missing \(flag)")
        }
    }

    @Test("the controller manager signs with the cluster CA only when its key is available")
    func controllerManagerSigning() throws {
        let renderer = TemplateRenderer()
        let signing = execStartFlags(try renderer.render("kubernetes/kube-controller-manager.service", context: controlPlaneContext))
        #expect(signing.contains("--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt"))
        #expect(signing.contains("--cluster-signing-key-file=/etc/kubernetes/pki/ca.key"))
        #expect(signing.contains("--leader-elect=true"))
        #expect(signing.contains("--service-account-private-key-file=/etc/kubernetes/pki/sa.key"))
        #expect(signing.contains("--root-ca-file=/etc/kubernetes/pki/ca.crt"))
        #expect(signing.contains("--cluster-cidr=10.244.0.0/16"))
        // Capstan allocates node pod subnets itself; the controller manager must not hand out others.
        #expect(signing.contains("--allocate-node-cidrs=false"))
        #expect(signing.contains("--node-cidr-mask-size=24"))
        var offline = controlPlaneContext
        offline.clusterSigning = false
        let unit = try renderer.render("kubernetes/kube-controller-manager.service", context: offline)
        #expect(!unit.contains("cluster-signing"))
        #expect(execStartFlags(unit).count == signing.count - 2)
    }

    @Test("the kubelet unit uses --bootstrap-kubeconfig only in bootstrap mode")
    func kubeletBootstrap() throws {
        let renderer = TemplateRenderer()
        let plain = execStartFlags(try renderer.render("kubernetes/kubelet.service", context: kubeletContext))
        let bootstrap = execStartFlags(try renderer.render("kubernetes/kubelet.service", context: bootstrapKubeletContext))
        #expect(!plain.contains { $0.hasPrefix("--bootstrap-kubeconfig") })
        #expect(plain.contains("--node-labels=capstan.dev/lab=true,zone=a"))
        #expect(!plain.contains { $0.hasPrefix("--register-with-taints") })
        let config = try renderer.render("kubernetes/kubelet-config.yaml", context: kubeletContext)
        #expect(config.hasSuffix("registerWithTaints:\n  - key: \"dedicated\"\n    value: \"infra\"\n    effect: NoSchedule\n  - key: \"gpu\"\n    effect: NoExecute\n"), "\(config)")
        #expect(bootstrap.contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf"))
        #expect(bootstrap.contains("--kubeconfig=/etc/kubernetes/kubelet.conf"))
        #expect(!bootstrap.contains { $0.hasPrefix("--node-labels") })
    }

    @Test("kubectl reads the rendered bootstrap kubeconfig: token user, provider server, CA data")
    func bootstrapKubeconfigWithKubectl() throws {
        let which = try runProgram(["sh", "-c", "command -v kubectl"])
        try #require(which.status == 0, "kubectl is not installed (scripts/prereqs.sh installs it)")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try TemplateRenderer().render("kubernetes/bootstrap-kubelet.conf", context: bootstrapContext)
            .write(toFile: dir + "/bootstrap.conf", atomically: true, encoding: .utf8)
        let view = try runProgram(["kubectl", "config", "view", "--kubeconfig", dir + "/bootstrap.conf", "--raw", "-o",
                            "jsonpath={.users[0].user.token}|{.clusters[0].cluster.server}|{.clusters[0].cluster.certificate-authority-data}|{.current-context}"])
        #expect(view.status == 0, "\(view.output)")
        #expect(view.output == "abcdef.0123456789abcdef|https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com|LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==|tls-bootstrap@prod")
    }

    @Test("systemd-analyze verify accepts every rendered Kubernetes and containerd unit")
    func systemdVerify() throws {
        let which = try runProgram(["sh", "-c", "command -v systemd-analyze"])
        try #require(which.status == 0, "systemd-analyze is not installed (scripts/prereqs.sh installs systemd)")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for exe in ["containerd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"] {
            try "#!/bin/sh\n".write(toFile: dir + "/" + exe, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/" + exe)
        }
        var runtime = runtimeContext
        runtime.binDir = dir
        var cp = controlPlaneContext
        cp.binDir = dir
        var kubelet = kubeletContext
        kubelet.binDir = dir
        var bootstrap = bootstrapKubeletContext
        bootstrap.binDir = dir
        var proxy = proxyContext
        proxy.binDir = dir
        let r = TemplateRenderer()
        let units: [(String, String)] = [
            ("containerd.service", try r.render("containerd/containerd.service", context: runtime)),
            ("kube-apiserver.service", try r.render("kubernetes/kube-apiserver.service", context: cp)),
            ("kube-controller-manager.service", try r.render("kubernetes/kube-controller-manager.service", context: cp)),
            ("kube-scheduler.service", try r.render("kubernetes/kube-scheduler.service", context: cp)),
            ("kubelet.service", try r.render("kubernetes/kubelet.service", context: kubelet)),
            ("kube-proxy.service", try r.render("kubernetes/kube-proxy.service", context: proxy)),
        ]
        for (name, text) in units { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        let result = try runProgram(["systemd-analyze", "verify", "--man=no"] + units.map { dir + "/" + $0.0 })
        let complaints = result.output.split(separator: "\n").filter { $0.contains(dir) }
        #expect(result.status == 0, "\(result.output)")
        #expect(complaints.isEmpty, "\(complaints)")

        try r.render("kubernetes/kubelet.service", context: bootstrap).write(toFile: dir + "/kubelet.service", atomically: true, encoding: .utf8)
        let again = try runProgram(["systemd-analyze", "verify", "--man=no", dir + "/containerd.service", dir + "/kubelet.service"])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.split(separator: "\n").filter { $0.contains(dir) }.isEmpty, "\(again.output)")
    }
}
