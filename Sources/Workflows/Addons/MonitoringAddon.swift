import Crypto
import Foundation
import Inventory
import PKI
import Templates

/// The monitoring add-on: Prometheus scraping the API servers, etcd, kubelets and node exporters.
///
/// Rendering is pure: inventory + etcd client material → manifests. Reading the state directory and
/// running kubectl happen elsewhere (`EtcdClientMaterial.load`, `AddonApplier`).
public enum MonitoringAddon {
    public static let templateDirectory = "addons/monitoring"

    /// Template → output file; the prefixes order `kubectl apply` (Namespace first).
    static let files: [(template: String, output: String, selfManagedOnly: Bool)] = [
        ("namespace.yaml", "00-namespace.yaml", false),
        ("rbac.yaml", "10-rbac.yaml", false),
        ("etcd-client-secret.yaml", "20-etcd-client-secret.yaml", true),
        ("prometheus-config.yaml", "30-prometheus-config.yaml", false),
        ("node-exporter.yaml", "40-node-exporter.yaml", false),
        ("prometheus.yaml", "50-prometheus.yaml", false),
    ]

    /// Why a managed cluster gets no etcd job; nil for a self-managed one.
    public static func etcdOmission(for inventory: Inventory) -> String? {
        guard !inventory.isSelfManaged else { return nil }
        let provider = inventory.controlPlane.managed?.provider.displayName ?? "the provider"
        return "the control plane is managed by \(provider), which runs etcd itself and exposes neither its metrics endpoints nor a client certificate for them"
    }

    /// Renders every manifest. `etcdClient` is required for a self-managed cluster and ignored for a managed one.
    public static func render(
        inventory: Inventory, etcdClient: EtcdClientMaterial?, renderer: TemplateRenderer = TemplateRenderer()
    ) throws -> AddonManifests {
        try requireSafe(inventory.name, what: "cluster name")
        var notes: [String] = []
        var etcd: MonitoringContext.Etcd?
        let omission = etcdOmission(for: inventory)
        if let omission {
            notes.append("monitoring: no etcd scrape job for \(inventory.name): \(omission)")
        } else {
            guard let material = try etcdClient?.checked() else {
                throw WorkflowError.stateFile("the monitoring add-on of \(inventory.name) needs the etcd client certificate from the PKI state: run `capstan apply -i …` first")
            }
            let members = inventory.etcdMembers
            guard !members.isEmpty else {
                throw WorkflowError.inventory("cluster \(inventory.name) has no etcd member to scrape: give a host the etcd role (or a control-plane host with stacked etcd)")
            }
            etcd = MonitoringContext.Etcd(
                members: try members.map { host in
                    try requireSafe(host.name, what: "host name")
                    try requireSafe(host.clusterAddress, what: "address of \(host.name)")
                    let address = host.clusterAddress.contains(":") ? "[\(host.clusterAddress)]" : host.clusterAddress
                    return .init(name: host.name, target: "\(address):2379")
                },
                clientCertificate: material.description,
                caCertificateBase64: Data(material.caCertificatePEM.utf8).base64EncodedString(),
                certificateBase64: Data(material.certificatePEM.utf8).base64EncodedString(),
                keyBase64: Data(material.keyPEM.utf8).base64EncodedString())
        }
        var context = MonitoringContext(clusterName: inventory.name, etcd: etcd, etcdOmission: omission)
        let config = try renderer.render(templateDirectory + "/prometheus-config.yaml", context: context)
        context.configSHA256 = SHA256.hash(data: Data(config.utf8)).map { String(format: "%02x", $0) }.joined()

        var out: [String: String] = [:]
        for file in files where etcd != nil || !file.selfManagedOnly {
            out[file.output] = file.template == "prometheus-config.yaml"
                ? config : try renderer.render(templateDirectory + "/" + file.template, context: context)
        }
        return AddonManifests(files: out, notes: notes)
    }

    /// Values land in YAML scalars and Prometheus targets: allow only what names and addresses are made of.
    static func requireSafe(_ value: String, what: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:")
        guard !value.isEmpty, value.allSatisfy({ allowed.contains($0) }) else {
            throw WorkflowError.inventory("the \(what) \"\(value)\" cannot go into the monitoring manifests: use letters, digits, '.', '-', '_' and ':' only")
        }
    }
}
