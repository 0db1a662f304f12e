import ArgumentParser
import Foundation
import Inventory
import PKI

struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Certificate lifecycle: list, check, renew, rotate.",
        subcommands: [CertsList.self, CertsCheck.self, CertsRenew.self, CertsRotate.self, CertsRotateSAKey.self, CertsGenerate.self]
    )
}

/// Loads the inventory and its state directory; inventory warnings go to stderr.
func loadPKIManager(_ option: InventoryOption) throws -> PKIManager {
    var (inventory, warnings) = try InventoryLoader.loadOrThrow(path: option.inventory)
    for w in warnings { FileHandle.standardError.write(Data((w.description + "\n").utf8)) }
    inventory.stateDirectory = option.chosenStateDirectory
    return PKIManager(inventory: inventory, state: StateDirectory(inventory: inventory))
}

struct CertsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List certificates in the local state, soonest expiry first.",
        discussion: HelpExamples.discussion("certs list", "Warns about certificates with 30 days or less left; exits 1 when one has expired.")
    )

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption

    func run() async throws {
        let manager = try loadPKIManager(inventory)
        let rows = try manager.list(now: Date())
        switch output.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        case .text:
            print(CertsTable.render(rows))
        }
        let expired = rows.filter { $0.severity == .error }
        let warned = rows.filter { $0.severity == .warning }
        if !warned.isEmpty {
            FileHandle.standardError.write(Data("warning: \(warned.count) certificate(s) expire within \(PKIManager.warningDays) days; run capstan certs renew\n".utf8))
        }
        if !expired.isEmpty {
            FileHandle.standardError.write(Data("error: \(expired.count) certificate(s) expired: \(expired.map { row in row.host.map { "\(row.name)@\($0)" } ?? row.name }.joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
    }
}

enum CertsTable {
    static func render(_ rows: [CertificateStatus]) -> String {
        let f = ISO8601DateFormatter()
        let header = ["NAME", "HOST", "CN", "ISSUER", "NOT AFTER", "DAYS", "STATUS", "SANS"]
        let lines = rows.map { r in
            [r.name, r.host ?? "-", r.commonName, r.issuer, f.string(from: r.notAfter), String(r.daysLeft), r.severity.rawValue,
             r.sans.isEmpty ? "-" : r.sans.map(\.description).joined(separator: ",")]
        }
        var widths = header.map(\.count)
        for l in lines { for (i, c) in l.enumerated() where i < header.count - 1 { widths[i] = max(widths[i], c.count) } }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([format(header)] + lines.map(format)).joined(separator: "\n")
    }
}

struct CertsRenew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Re-issue leaf certificates locally.",
        discussion: HelpExamples.discussion("certs renew", "Distribution to the hosts and restarts come with `capstan certs rotate`.")
    )

    @OptionGroup var inventory: InventoryOption
    @Flag(help: "Re-issue every leaf certificate.") var all = false
    @Flag(name: .customLong("dry-run"), help: "List what would be re-issued and written; write nothing.") var dryRun = false
    @Argument(help: "Certificates to re-issue: catalog names (apiserver, etcd/server, kubelet.conf) or name@host.") var names: [String] = []

    func validate() throws {
        if all == !names.isEmpty { throw ValidationError("give --all or one or more certificate names (not both)") }
    }

    func run() async throws {
        let manager = try loadPKIManager(inventory)
        let selection: RenewSelection = all ? .all : .names(names)
        if dryRun { return CertsReport.print(try manager.plan(now: Date(), renew: selection)) }
        CertsReport.print(try await manager.apply(now: Date(), renew: selection))
    }
}

/// Creates or completes the PKI in the state directory (what `apply` runs first); hidden, used by benchmarks.
struct CertsGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Create or complete the local PKI.", discussion: HelpExamples.discussion("certs generate"), shouldDisplay: false)

    @OptionGroup var inventory: InventoryOption
    @Flag(name: .customLong("dry-run"), help: "List what would be created and written; write nothing.") var dryRun = false

    func run() async throws {
        let manager = try loadPKIManager(inventory)
        if dryRun { return CertsReport.print(try manager.plan(now: Date())) }
        CertsReport.print(try await manager.apply(now: Date()))
    }
}

enum CertsReport {
    static func print(_ result: PKIResult) {
        for ca in result.createdAuthorities { Swift.print("created CA \(ca.rawValue)") }
        for r in result.issued { Swift.print("issued \(r.certificate.id): \(r.reasons.map(\.description).joined(separator: "; "))") }
        for c in result.needsSigning { Swift.print("needs signing \(c.id): \(c.csrPath)") }
        Swift.print("\(result.written.count) file(s) written")
    }

    /// A dry run: the same lines `apply` would record, and nothing written.
    static func print(_ plan: PKIPlan) {
        for line in plan.changes { Swift.print("would \(line)") }
        for c in plan.needsSigning { Swift.print("would need signing \(c.id) (offline CA: a key and CSR are written, the .crt comes from you)") }
        Swift.print(plan.isUpToDate ? "nothing to do (dry run; nothing written)" : "dry run: \(plan.changes.count + plan.needsSigning.count) change(s); nothing written")
    }
}
