import Foundation
import Hosts
import Inventory

/// What `capstan upgrade` reads from each host besides the etcd facts: the Kubernetes binaries'
/// versions and the free space where binaries and snapshots go. One round trip per host.
public enum UpgradeFacts {
    /// Arguments: binary directory, etcd data directory. Constant text; paths come in as arguments.
    public static let script = """
        B=$1; D=$2
        echo @@etcd; "$B/etcd" --version 2>/dev/null | head -n 1
        for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do echo "@@$c"; "$B/$c" --version 2>/dev/null | head -n 1; done
        echo @@kubectl; "$B/kubectl" version --client 2>/dev/null | head -n 1
        echo @@df-bin; df -Pk "$B" 2>/dev/null | tail -n +2
        P=$D; while [ ! -e "$P" ] && [ "$P" != / ]; do P=$(dirname "$P"); done
        echo @@df-data; df -Pk "$P" 2>/dev/null | tail -n +2
        echo @@end
        """

    public static func command(binDir: String, dataDir: String) -> ShellCommand {
        ShellCommand(["sh", "-c", script, "sh", binDir, dataDir])
    }

    public struct Survey: Sendable, Equatable {
        public var versions: HostVersions
        /// Free KiB on the file systems of the binary and data directories (nil when df did not answer).
        public var freeBinKiB: Int64?
        public var freeDataKiB: Int64?
    }

    public static func parse(host: String, roles: Set<Role>, _ text: String) -> Survey {
        var sections: [String: String] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@") { current = String(line.dropFirst(2)); sections[current ?? ""] = ""; continue }
            if let c = current { sections[c, default: ""] += line + "\n" }
        }
        var components: [KubeComponent: SemanticVersion] = [:]
        for component in KubeComponent.allCases {
            if let v = sections[component.rawValue].flatMap(version(in:)) { components[component] = v }
        }
        let versions = HostVersions(host: host, roles: roles, etcd: sections["etcd"].flatMap(version(in:)), components: components)
        return Survey(versions: versions, freeBinKiB: sections["df-bin"].flatMap(available(df:)), freeDataKiB: sections["df-data"].flatMap(available(df:)))
    }

    /// The first `N.N.N` / `vN.N.N` token: `Kubernetes v1.31.4`, `etcd Version: 3.4.23`, `Client Version: v1.31.4`.
    public static func version(in text: String) -> SemanticVersion? {
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            if let v = SemanticVersion(parsing: String(token)) { return v }
        }
        return nil
    }

    /// The installed Kubernetes and etcd versions of `hosts`, one command each, all at once.
    static func installedVersions(_ hosts: [String], inventory: Inventory, binDir: String = NodeArtifacts.binDir,
                                  in ctx: WorkflowContext) async -> [HostOutcome<HostVersions>] {
        let roles = Dictionary(inventory.hosts.map { ($0.name, Set($0.roles)) }, uniquingKeysWith: { a, _ in a })
        return await FanOut.run(hosts, name: { $0 }) { host -> HostVersions in
            let result = try await ctx.reader(host).run(command(binDir: binDir, dataDir: "/"), options: RunOptions(timeoutSeconds: 60))
            return parse(host: host, roles: roles[host] ?? [], result.stdoutText).versions
        }
    }

    /// The `Available` column (KiB) of a `df -Pk` data line.
    public static func available(df text: String) -> Int64? {
        guard let line = text.split(separator: "\n").first else { return nil }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6 else { return nil }
        return Int64(fields[3])
    }
}
