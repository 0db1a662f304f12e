import Foundation
import Hosts
import Inventory
import Templates

/// containerd's per-registry configuration from `spec.containerRuntime.registries`: a `hosts.toml` (and
/// the CA) under `/etc/containerd/certs.d/<registry>/` for each registry, and the credentials as CRI
/// registry auth for the registry and each of its mirrors (containerd looks credentials up by the host
/// it contacts). hosts.toml has no place for credentials, so they go into containerd's config, which is
/// then written 0600 and never shown in a diff.
struct RegistryFiles: Sendable {
    var files: [ManagedFile]
    var auths: [RegistryAuthContext]

    static func directory(_ registry: String) -> String { ContainerdContext.registryConfigDirectory + "/" + registry }

    static func render(_ inventory: Inventory, renderer: TemplateRenderer) throws -> RegistryFiles {
        var result = RegistryFiles(files: [], auths: [])
        for (i, registry) in inventory.containerRuntime.registries.enumerated() {
            let key = "spec.containerRuntime.registries[\(i)]"
            let dir = directory(registry.host)
            var caPath: String?
            if let caFile = registry.caFile {
                guard let pem = FileManager.default.contents(atPath: caFile) else {
                    throw WorkflowError.namedFile("\(key).caFile: cannot read \(caFile)")
                }
                caPath = dir + "/ca.crt"
                result.files.append(ManagedFile(path: dir + "/ca.crt", content: pem))
            }
            let server = registry.server ?? (registry.host == "docker.io" ? "https://registry-1.docker.io" : "https://" + registry.host)
            let context = RegistryHostsContext(clusterName: inventory.name, registry: registry.host, server: server, mirrors: registry.mirrors,
                                               caPath: caPath, skipVerify: registry.skipVerify)
            result.files.append(ManagedFile(path: dir + "/hosts.toml", text: try renderer.render("containerd/hosts.toml", context: context)))
            if let file = registry.credentialsFile {
                guard let data = FileManager.default.contents(atPath: file),
                      let credentials = RegistryCredentials.parse(String(decoding: data, as: UTF8.self)) else {
                    throw WorkflowError.namedFile("\(key).credentialsFile: \(file) is unreadable or not one line USERNAME:PASSWORD")
                }
                let hosts = ([registry.host] + ([server] + registry.mirrors).compactMap(authority))
                    .reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                result.auths += hosts.map { RegistryAuthContext(host: $0, username: credentials.username, password: credentials.password) }
            }
        }
        return result
    }

    /// `host[:port]` of a URL, as containerd keys credentials.
    static func authority(_ url: String) -> String? {
        guard let parsed = URL(string: url), let host = parsed.host else { return nil }
        return parsed.port.map { "\(host):\($0)" } ?? host
    }

    /// The registries whose directories Capstan wrote on a host, so a registry dropped from the inventory
    /// loses its directory while the operator's own directories beside it stay.
    static let record = ContainerdContext.registryConfigDirectory + "/.capstan-registries"

    static func recordFile(_ registries: Set<String>) -> ManagedFile {
        ManagedFile(path: record, text: "# Managed by Capstan: registry directories it writes here\n" + registries.sorted().map { $0 + "\n" }.joined())
    }

    /// Writes the registry files, then removes the directories of registries the host's record names and
    /// the inventory no longer does. Compared through the phase's survey (which must include `record`):
    /// an unchanged record costs no command.
    static func ensure(_ ctx: WorkflowContext, _ host: String, files: [ManagedFile], registries: Set<String>) async throws {
        for file in files { try await ctx.ensureFile(host, file) }
        let wanted = recordFile(registries)
        if registries.isEmpty, try await ctx.observe(host, record) == .absent { return }
        guard try await ctx.differs(host, wanted) else { return }
        let previous = try await ctx.reader(host).read(record).map { String(decoding: $0, as: UTF8.self) }
        let written = Set((previous ?? "").split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty })
        for registry in written.subtracting(registries).sorted() {
            let path = directory(registry)
            try await ctx.change(host, "remove \(path) (registry \(registry) is no longer in spec.containerRuntime.registries)") { c in
                try await c.check(ShellCommand("rm", "-rf", "--", path))
            }
        }
        try await ctx.ensureFile(host, wanted)
    }
}
