import Foundation

/// kubeconfig files as kubeadm writes them: one cluster, one user, one context, credentials embedded.
public enum Kubeconfig {
    public static func render(cluster: String, server: String, caPEM: String, user: String, certPEM: String, keyPEM: String) -> String {
        let context = "\(user)@\(cluster)"
        return """
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: \(Data(caPEM.utf8).base64EncodedString())
            server: \(quoted(server))
          name: \(quoted(cluster))
        contexts:
        - context:
            cluster: \(quoted(cluster))
            user: \(quoted(user))
          name: \(quoted(context))
        current-context: \(quoted(context))
        kind: Config
        preferences: {}
        users:
        - name: \(quoted(user))
          user:
            client-certificate-data: \(Data(certPEM.utf8).base64EncodedString())
            client-key-data: \(Data(keyPEM.utf8).base64EncodedString())

        """
    }

    /// YAML double-quoted scalar: names like `system:node:cp1` contain `:`.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A kubeconfig that `apply` rewrites while its client certificate stays as it is.
public struct KubeconfigUpdate: Sendable, Equatable {
    /// Relative to the state directory.
    public var path: String
    public var reason: String
}

extension PKIManager {
    /// Kubeconfigs of `required` (whose certificates stay) that differ from what `apply` would render.
    func kubeconfigUpdates(_ required: [RequiredCertificate]) throws -> [KubeconfigUpdate] {
        guard let caPEM = try readText("pki/ca.crt") else { return [] }
        var updates: [KubeconfigUpdate] = []
        for req in required {
            guard let path = req.kubeconfigPath, let server = req.server,
                  let certPEM = try readText(req.certPath), let keyPEM = try readText(req.keyPath) else { continue }
            let wanted = Kubeconfig.render(cluster: inventory.name, server: server, caPEM: caPEM, user: req.commonName,
                                           certPEM: certPEM, keyPEM: keyPEM)
            guard let existing = try readText(path) else {
                updates.append(KubeconfigUpdate(path: path, reason: "file missing"))
                continue
            }
            guard existing != wanted else { continue }
            let serverLine = "server: \(Kubeconfig.quoted(server))"
            updates.append(KubeconfigUpdate(path: path, reason: existing.contains(serverLine)
                ? "embedded credentials differ from the state's certificate and key" : "server changed to \(server)"))
        }
        return updates
    }

    /// Renders every kubeconfig from the files as this run leaves them (staged, else on disk).
    func renderKubeconfigs(_ required: [RequiredCertificate], in tx: inout StateDirectory.Transaction,
                           into result: inout PKIResult) throws {
        func text(_ relative: String) throws -> String? { try tx.read(relative).map { String(decoding: $0, as: UTF8.self) } }
        guard let caPEM = try text("pki/ca.crt") else { return }
        for req in required {
            guard let path = req.kubeconfigPath, let server = req.server,
                  let certPEM = try text(req.certPath), let keyPEM = try text(req.keyPath) else { continue }
            let rendered = Kubeconfig.render(cluster: inventory.name, server: server, caPEM: caPEM, user: req.commonName,
                                             certPEM: certPEM, keyPEM: keyPEM)
            try stage(rendered, to: path, mode: 0o600, in: &tx, into: &result)
        }
    }
}
