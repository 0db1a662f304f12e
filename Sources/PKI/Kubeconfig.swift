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

extension PKIManager {
    func renderKubeconfigs(_ required: [RequiredCertificate], into result: inout PKIResult) throws {
        guard let caPEM = try readText("pki/ca.crt") else { return }
        for req in required {
            guard let path = req.kubeconfigPath, let server = req.server,
                  let certPEM = try readText(req.certPath), let keyPEM = try readText(req.keyPath) else { continue }
            let text = Kubeconfig.render(cluster: inventory.name, server: server, caPEM: caPEM, user: req.commonName,
                                         certPEM: certPEM, keyPEM: keyPEM)
            try write(text, to: path, mode: 0o600, into: &result)
        }
    }
}
