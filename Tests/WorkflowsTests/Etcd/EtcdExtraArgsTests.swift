import Foundation
import Inventory
import Templates
import Testing
import TestSupport
@testable import Workflows

/// `spec.etcd.extraArgs` against the real etcd binaries: every flag of Capstan's tables is one the binary of
/// that minor parses, and the command line apply renders (Capstan's flags, then the user's) passes etcd's own
/// flag parsing. `etcd ARGS --version` parses every flag before it prints its version, so it refuses exactly
/// what a member would refuse at start, without starting one.
@Suite("spec.etcd.extraArgs against the real etcd 3.4 and 3.5", .tags(.etcd))
struct EtcdExtraArgsTests {
    static let binaries: [(minor: Int, dir: String)] = [(4, EtcdBinaries.v34), (5, EtcdBinaries.v35)]

    /// Exit status and standard error of `etcd ARGUMENTS --version`.
    static func parse(_ dir: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
        try runCollectingStderr(dir + "/etcd", arguments + ["--version"])
    }

    static func sample(_ type: String) -> String? {
        ["bool": "true", "uint": "7", "int": "7", "duration": "7s", "string": "x"][type]
    }

    @Test("every flag in each table is one the binary of that minor parses, with a value of the type the table gives it")
    func tablesMatchTheBinaries() throws {
        for (minor, dir) in Self.binaries {
            try #require(EtcdBinaries.available(dir), "etcd 3.\(minor) missing: run scripts/prereqs.sh")
            let table = try #require(EtcdFlagTable.load(minor: minor))
            #expect(table.flags.count > 70)
            for (name, flag) in table.flags.sorted(by: { $0.key < $1.key }) {
                let value = Self.sample(flag.type) ?? flag.default
                let result = try Self.parse(dir, ["--\(name)=\(value)"])
                #expect(!result.stderr.contains("flag provided but not defined"), "etcd 3.\(minor) does not know --\(name)")
                if Self.sample(flag.type) != nil { #expect(result.status == 0, "etcd 3.\(minor) --\(name)=\(value): \(result.stderr)") }
            }
            // And the probe refuses what it should, so the loop above could fail.
            #expect(try Self.parse(dir, ["--auto-compaction-retension=1h"]).stderr.contains("flag provided but not defined"))
            #expect(try Self.parse(dir, ["--snapshot-count=lots"]).status != 0)
        }
    }

    @Test("the rendered unit's command line, with the user's flags after Capstan's, passes etcd's flag parsing; snapshot-count replaces the default in place")
    func renderedCommandLine() throws {
        for (minor, dir) in Self.binaries {
            try #require(EtcdBinaries.available(dir), "etcd 3.\(minor) missing: run scripts/prereqs.sh")
            let version = minor == 4 ? "3.4.23" : "3.5.15"
            let text = """
                apiVersion: capstan.dev/v1alpha1
                kind: Cluster
                metadata: {name: tuned}
                spec:
                  kubernetesVersion: v1.31.4
                  etcd:
                    version: \(version)
                    extraArgs: {auto-compaction-mode: periodic, auto-compaction-retention: 1h, max-request-bytes: 2097152, snapshot-count: 5000, experimental-initial-corrupt-check: true}
                  hosts:
                    - {name: cp1, address: 10.0.0.11, roles: [control-plane, etcd, worker]}
                """
            let loaded = InventoryLoader.load(text: text, path: "tuned.yaml", checkFiles: false)
            let inventory = try #require(loaded.inventory, "\(loaded.diagnostics)")
            let spec = try EtcdClusterSpec(inventory: inventory)
            #expect(spec.snapshotCount == 5000 && !spec.extraFlags.contains { $0.hasPrefix("--snapshot-count") })
            let unit = try TemplateRenderer().render("etcd/etcd.service", context: EtcdMemberContext(
                clusterName: "tuned", name: "cp1", address: "10.0.0.11", initialCluster: "", initialClusterState: "new",
                initialClusterToken: "t", snapshotCount: spec.snapshotCount, quotaBackendBytes: spec.quotaBackendBytes, extraFlags: spec.extraFlags))
            let exec = try #require(StrictStandin.execStart(unit))
            #expect(exec.arguments.filter { $0.hasPrefix("--snapshot-count=") } == ["--snapshot-count=5000"])
            #expect(exec.arguments.suffix(4) == ["--auto-compaction-mode=periodic", "--auto-compaction-retention=1h", "--max-request-bytes=2097152",
                                                 "--experimental-initial-corrupt-check=true"], "\(exec.arguments)")
            let result = try Self.parse(dir, exec.arguments)
            #expect(result.status == 0, "etcd 3.\(minor) refused the rendered command line: \(result.stderr)")
        }
    }
}
