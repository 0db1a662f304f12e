import Foundation
import Hosts
import Inventory

/// What `capstan upgrade` reads from each host besides the etcd facts: the Kubernetes binaries'
/// versions and the free space where binaries and snapshots go. One round trip per host.
public enum UpgradeFacts {
    /// Arguments: binary directory, etcd data directory, then optionally the checksum record and
    /// `component=sha256` pairs. A Kubernetes binary whose record
    /// line has one of those checksums and the identity (inode, size, change time) the file has now is
    /// that release's binary, so it is not run: `capstan-vouched SHA256` stands for its version line (the
    /// record's guarantee, as for the survey's hashing). Constant text; paths come in as arguments.
    public static let script = """
        B=$1; D=$2; R=${3:-}; shift 2; [ $# -ge 1 ] && shift; V=" $* "
        vouched() {
          [ -n "$R" ] && [ -e "$B/$1" ] || return 1
          i=$(stat -c '%i:%s:%.9Z' "$B/$1" 2>/dev/null) || return 1
          s=$(awk -v p="$B/$1" -v i="$i" '$2 == i && $3 == p { print $1; exit }' "$R" 2>/dev/null)
          case "$V" in *" $1=$s "*) [ -n "$s" ] && echo "capstan-vouched $s" ;; *) return 1 ;; esac
        }
        echo @@etcd; "$B/etcd" --version 2>/dev/null | head -n 1
        for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do echo "@@$c"; vouched "$c" || "$B/$c" --version 2>/dev/null | head -n 1; done
        echo @@kubectl; vouched kubectl || "$B/kubectl" version --client 2>/dev/null | head -n 1
        echo @@df-bin; df -Pk "$B" 2>/dev/null | tail -n +2
        echo @@df-data
        P=$D; \(freeSpaceOfP)
        echo @@end
        """

    /// Binaries whose line in the checksum record at `record` has one of `vouched`'s checksums (component →
    /// SHA-256 of its release file) are not run; without `record` every binary runs.
    public static func command(binDir: String, dataDir: String, record: String? = nil, vouched: [KubeComponent: String] = [:]) -> ShellCommand {
        guard let record, !vouched.isEmpty else { return ShellCommand(["sh", "-c", script, "sh", binDir, dataDir]) }
        let pairs = vouched.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }
        return ShellCommand(["sh", "-c", script, "sh", binDir, dataDir, record] + pairs)
    }

    public struct Survey: Sendable, Equatable {
        public var versions: HostVersions
        /// Free KiB on the file systems of the binary and data directories (nil when df did not answer).
        public var freeBinKiB: Int64?
        public var freeDataKiB: Int64?
    }

    /// `vouched`: component → SHA-256 of `release`'s files, as the command was given them; a
    /// `capstan-vouched SHA256` line with that checksum reads as `release`.
    public static func parse(host: String, roles: Set<Role>, _ text: String,
                             vouched: [KubeComponent: String] = [:], release: SemanticVersion? = nil) -> Survey {
        var sections: [String: String] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("@@") { current = String(line.dropFirst(2)); sections[current ?? ""] = ""; continue }
            if let c = current { sections[c, default: ""] += line + "\n" }
        }
        var components: [KubeComponent: SemanticVersion] = [:]
        for component in KubeComponent.allCases {
            guard let section = sections[component.rawValue] else { continue }
            if section.hasPrefix("capstan-vouched ") {
                let sum = section.dropFirst("capstan-vouched ".count).trimmingCharacters(in: .whitespacesAndNewlines)
                if vouched[component] == sum, let release { components[component] = release }
            } else if let v = version(in: section) {
                components[component] = v
            }
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
                                  artifacts: ArtifactStore? = nil, in ctx: WorkflowContext) async -> [HostOutcome<HostVersions>] {
        let roles = Dictionary(inventory.hosts.map { ($0.name, Set($0.roles)) }, uniquingKeysWith: { a, _ in a })
        let target = inventory.kubernetesVersion
        let release = await releaseChecksums(version: target, of: inventory.isSelfManaged ? KubeComponent.allCases : KubeComponent.node,
                                             from: artifacts)
        return await FanOut.run(hosts, name: { $0 }) { host -> HostVersions in
            let reader = try await ctx.reader(host)
            let result = try await reader.run(command(binDir: binDir, dataDir: "/", record: HostSurvey.checksumRecord, vouched: release),
                                              options: RunOptions(timeoutSeconds: 60))
            return parse(host: host, roles: roles[host] ?? [], result.stdoutText, vouched: release, release: target).versions
        }
    }

    /// The SHA-256 of `components` of `version` (amd64) from the release's checksum files, all fetched at
    /// once; a component whose list cannot be read is left out (its binary is then run).
    static func releaseChecksums(version: SemanticVersion, of components: [KubeComponent], from artifacts: ArtifactStore?) async -> [KubeComponent: String] {
        guard let artifacts else { return [:] }
        return await withTaskGroup(of: (KubeComponent, String?).self) { group in
            for component in components {
                group.addTask { (component, try? await artifacts.expectedSHA256(ReleaseCatalog.kubernetes(component.rawValue, version: version))) }
            }
            var sums: [KubeComponent: String] = [:]
            for await (component, sum) in group { if let sum { sums[component] = sum } }
            return sums
        }
    }

    /// Shell: the `df -Pk` data line of the path in `$P`, or of its nearest existing parent while it does not
    /// exist yet (a data directory before the first install); read it with `available(df:)`.
    public static let freeSpaceOfP = #"while [ ! -e "$P" ] && [ "$P" != / ]; do P=$(dirname "$P"); done; df -Pk "$P" 2>/dev/null | tail -n +2"#

    /// The `Available` column (KiB) of a `df -Pk` data line.
    public static func available(df text: String) -> Int64? {
        guard let line = text.split(separator: "\n").first else { return nil }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6 else { return nil }
        return Int64(fields[3])
    }
}
