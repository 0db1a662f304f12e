import Foundation
import Yams

/// `spec.containerRuntime.registries`: registry hosts, their mirrors, CA and credentials.
extension InventoryParser {
    func parseContainerRuntime(_ node: Node) -> ContainerRuntimeSpec? {
        guard let m = section(node, path: "spec.containerRuntime") else { return nil }
        var spec = ContainerRuntimeSpec()
        guard let listNode = m.value("registries"), let items = r.sequence(listNode, path: "spec.containerRuntime.registries") else { return spec }
        var seen: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            let path = "spec.containerRuntime.registries[\(i)]"
            guard let reg = section(item, path: path) else { continue }
            guard let host = r.nonEmptyString(reg, "host") else { continue }
            guard Self.isRegistryHost(host) else {
                r.invalid(reg, "host", "\(path).host: '\(host)' is not a registry host (HOST or HOST:PORT as image names write it, e.g. registry.k8s.io or harbor.example.com:5000)")
                continue
            }
            if let first = seen[host] {
                r.invalid(reg, "host", "\(path).host: \(host) is already configured by spec.containerRuntime.registries[\(first)]; merge the two entries")
                continue
            }
            seen[host] = i
            var registry = RegistrySpec(host: host)
            if let mirrors = r.stringList(reg, "mirrors") {
                for (j, (url, urlNode)) in mirrors.enumerated() where !Self.isRegistryURL(url) {
                    r.error(urlNode.position, "\(path).mirrors[\(j)]: '\(url)' is not an http(s):// URL of a registry mirror (e.g. https://mirror.example.com:5000)")
                }
                registry.mirrors = mirrors.map(\.0).filter(Self.isRegistryURL)
            }
            if let server = r.nonEmptyString(reg, "server") {
                if Self.isRegistryURL(server) { registry.server = server } else {
                    r.invalid(reg, "server", "\(path).server: '\(server)' is not an http(s):// URL (the registry's own endpoint, e.g. https://\(host))")
                }
            }
            registry.caFile = file(reg, "caFile")
            if let skip = r.bool(reg, "skipVerify") { registry.skipVerify = skip }
            registry.credentialsFile = file(reg, "credentialsFile")
            if let written = registry.credentialsFile, checkFiles {
                checkCredentials(written, at: reg.child("credentialsFile"))
            }
            if registry.skipVerify, registry.caFile != nil {
                r.warning(at: reg.child("skipVerify"), "\(path).skipVerify: true makes caFile pointless (no certificate is checked)")
            }
            spec.registries.append(registry)
        }
        return spec
    }

    /// A readable credentials file must hold one `USERNAME:PASSWORD` line (the readability itself is checked
    /// with every other file the inventory names).
    func checkCredentials(_ written: String, at path: String) {
        let resolved = InventoryLoader.resolve(written, relativeTo: sourcePath)
        guard let data = FileManager.default.contents(atPath: resolved) else { return }
        if RegistryCredentials.parse(String(decoding: data, as: UTF8.self)) == nil {
            r.error(at: path, "\(path): \(written) must hold one line USERNAME:PASSWORD (a non-empty user name without ':'), as `printf '%s:%s\\n' USER PASSWORD > FILE; chmod 600 FILE` writes it")
        }
    }

    static func isRegistryHost(_ host: String) -> Bool {
        guard let (name, port) = Syntax.splitEndpoint(host) else { return false }
        if let port, !(1...65535).contains(port) { return false }
        return Syntax.isAddress(name) && name == name.lowercased()
    }

    static func isRegistryURL(_ url: String) -> Bool {
        for scheme in ["https://", "http://"] where url.hasPrefix(scheme) {
            let rest = url.dropFirst(scheme.count)
            let authority = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return isRegistryHost(authority.lowercased()) && !url.contains(where: { $0.isWhitespace || $0 == "\"" })
        }
        return false
    }
}

/// The `USERNAME:PASSWORD` line of a registry credentials file.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var password: String

    public static func parse(_ text: String) -> RegistryCredentials? {
        let lines = text.split(whereSeparator: \.isNewline).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard lines.count == 1, let colon = lines[0].firstIndex(of: ":") else { return nil }
        let user = String(lines[0][..<colon]), password = String(lines[0][lines[0].index(after: colon)...])
        guard !user.isEmpty, !password.isEmpty, !user.contains(where: \.isWhitespace) else { return nil }
        return RegistryCredentials(username: user, password: password)
    }
}
