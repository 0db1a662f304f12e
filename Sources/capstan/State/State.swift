import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

struct StateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "state",
        abstract: "The cluster's state directory: where it is, which cluster it holds, and rebuilding it from the hosts.",
        discussion: """
        The state directory (default .capstan/<cluster>/ beside the inventory; --state-dir or CAPSTAN_STATE_DIR to move it) \
        holds what cannot be read back from the hosts: the CA keys, the cluster record, rotation and upgrade records, \
        the local backup catalogue. Every command that changes hosts compares the hosts' cluster identity with it first.
        """,
        subcommands: [StateShow.self, StateImportCommand.self]
    )
}

struct StateShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Where the state directory is and which cluster it holds (reads no host).", discussion: HelpExamples.discussion("state show"))
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption

    struct Document: Encodable {
        var stateDirectory: String
        var exists: Bool
        var cluster: String?
        var uid: String?
        var authorities: [String: [String]]
        var keysAbsent: [String]
    }

    func run() async throws {
        let (inv, _) = try inventory.load(checkFiles: false)
        let state = StateDirectory(inventory: inv)
        let trusted = try TrustedIdentity.load(inventory: inv, state: state)
        let doc = Document(
            stateDirectory: state.root, exists: FileManager.default.fileExists(atPath: state.root),
            cluster: trusted.record?.cluster, uid: trusted.record?.uid,
            authorities: Dictionary(uniqueKeysWithValues: trusted.authorities.map { ($0.key.rawValue, $0.value.sorted()) }),
            keysAbsent: AuthorityName.allCases.filter { state.exists(PKIManager.keyAbsentPath($0)) }.map(\.rawValue))
        switch output.output {
        case .json:
            try printJSON(doc)
        case .text:
            print("state directory: \(doc.stateDirectory)\(doc.exists ? "" : " (does not exist yet)")")
            print("cluster: \(doc.cluster ?? inv.name), uid: \(doc.uid ?? "none yet (the next apply records one)")")
            for name in AuthorityName.allCases {
                let prints = doc.authorities[name.rawValue] ?? []
                let note = doc.keysAbsent.contains(name.rawValue) ? " (certificate only: key not in this state)" : ""
                print("  \(name.rawValue): " + (prints.isEmpty ? "none" : prints.joined(separator: ", ")) + note)
            }
        }
    }
}

struct StateImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Rebuild a lost state directory from the hosts (certificates, keys, kubeconfigs, the cluster record).",
        discussion: HelpExamples.discussion("state import", """
        Reads the CA certificates, the cluster and front-proxy CA keys, the service-account key and the kubeconfigs from \
        a control-plane host (--from), and each host's own certificates from that host, and writes them into an empty \
        state directory at the paths they came from, so the next `apply` changes nothing on the hosts. It cannot bring \
        back the etcd CA key (it never leaves the state directory): the etcd CA is kept as a certificate only until you \
        restore pki/etcd/ca.key from a backup taken with includePKI; until then etcd certificates cannot be renewed. \
        super-admin.conf, which no host holds, is issued anew by the next apply.
        """)
    )
    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @Option(name: .long, help: "A control-plane host to read the cluster-wide files from.") var from: String
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and list what would be imported; write nothing.") var dryRun = false

    func run() async throws {
        let (inv, _) = try inventory.load()
        let state = StateDirectory(inventory: inv)
        let report = try await exitOnFailure {
            try await LiveContext.run(inventory: inv, mode: dryRun ? .plan : .apply, output: CollectingOutput()) { context in
                try await StateImport.run(inventory: inv, state: state, from: from, in: context)
            }
        }
        switch output.output {
        case .json:
            try printJSON(report)
        case .text:
            let count = report.files.values.map(\.count).reduce(0, +)
            print("\(dryRun ? "would import" : "imported") \(count) file(s) into \(state.root): cluster \(report.record.cluster) uid \(report.record.uid)\(dryRun ? " (dry run: nothing written)" : "")")
            for host in report.files.keys.sorted() { print("  from \(host): \(report.files[host]?.count ?? 0) file(s)") }
            for (host, why) in report.unreachable.sorted(by: { $0.key < $1.key }) {
                print("  not read: \(host): \(why) (its certificates are not in the state; the next apply would issue new ones)")
            }
            if !report.missing.isEmpty {
                print("could not import:")
                for line in report.missing { print("  \(line)") }
            }
        }
    }
}
