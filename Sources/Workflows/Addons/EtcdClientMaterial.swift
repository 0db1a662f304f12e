import Foundation
import Inventory
import PKI

/// What Prometheus needs to reach etcd's client URLs: the etcd CA certificate (never its key) and one
/// client certificate with its key, as PEM text.
public struct EtcdClientMaterial: Sendable, Equatable {
    public var caCertificatePEM: String
    public var certificatePEM: String
    public var keyPEM: String
    /// Which certificate this is, for the manifest's comment (`etcd/healthcheck-client of h1`).
    public var description: String

    public init(caCertificatePEM: String, certificatePEM: String, keyPEM: String, description: String) {
        self.caCertificatePEM = caCertificatePEM
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
        self.description = description
    }

    /// State-directory files the Secret is built from: kubeadm's `etcd/healthcheck-client` of the first
    /// etcd member (a client-only certificate the etcd CA signed for probes) and the etcd CA certificate.
    public static func statePaths(for inventory: Inventory) throws -> (ca: String, certificate: String, key: String, member: String) {
        guard let member = inventory.etcdMembers.first else {
            throw WorkflowError.inventory("cluster \(inventory.name) has no etcd member to scrape: give a host the etcd role (or a control-plane host with stacked etcd)")
        }
        let base = "pki/hosts/\(member.name)/etcd/healthcheck-client"
        return ("pki/etcd/ca.crt", base + ".crt", base + ".key", member.name)
    }

    /// Reads the material from the state directory; nil for a managed cluster (no etcd to scrape).
    public static func load(inventory: Inventory, state: StateDirectory) throws -> EtcdClientMaterial? {
        guard inventory.isSelfManaged else { return nil }
        let paths = try statePaths(for: inventory)
        func text(_ relative: String) throws -> String {
            guard let data = try state.read(relative) else {
                throw WorkflowError.stateFile("\(state.path(relative)) is missing, needed for the etcd client Secret of the monitoring add-on: run `capstan apply -i …` (its PKI phase creates it)")
            }
            return String(decoding: data, as: UTF8.self)
        }
        return EtcdClientMaterial(
            caCertificatePEM: try text(paths.ca), certificatePEM: try text(paths.certificate), keyPEM: try text(paths.key),
            description: "etcd/healthcheck-client of \(paths.member)")
    }

    /// Refuses material that would put anything but the client key into a manifest.
    func checked() throws -> EtcdClientMaterial {
        for (what, pem) in [("etcd CA certificate", caCertificatePEM), ("etcd client certificate", certificatePEM)] {
            guard pem.contains("-----BEGIN CERTIFICATE-----") else {
                throw WorkflowError.stateFile("the \(what) for the monitoring add-on is not a PEM certificate: check the state directory's PKI")
            }
            guard !pem.contains("PRIVATE KEY") else {
                throw WorkflowError.refused(what: "render the etcd client Secret", found: "the \(what) file holds a private key",
                                            next: "Only the client key may go into a manifest; restore the certificate file from the PKI state.")
            }
        }
        guard keyPEM.contains("PRIVATE KEY-----"), keyPEM.components(separatedBy: "-----BEGIN ").count == 2 else {
            throw WorkflowError.stateFile("the etcd client key for the monitoring add-on must be exactly one PEM private key")
        }
        return self
    }
}
