import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

struct CertsCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Read certificates on the hosts: expiry, issuer, SANs, drift from the state, served etcd and API server certificates.",
        discussion: HelpExamples.discussion("certs check", """
            Reads every certificate Capstan places on each host over SSH, the certificate each etcd member \
            serves on port 2379 and each installed API server on port 6443 (fetched with openssl s_client on \
            the host), and compares them with the local state. Warns at 30 days or less left, about files missing or differing from the state; \
            exits 1 when a certificate has expired or a host cannot be read.
            """)
    )

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption

    func run() async throws {
        let (inv, _) = try inventory.load()
        if let refusal = ManagedMode.refusal(for: .controlPlaneCertRotation, inventory: inv) {
            printError("certs check: \(refusal)")
            throw ExitCode(1)
        }
        let now = Date()
        let report = try await exitOnFailure {
            try await LiveContext.run(inventory: inv, mode: .plan, output: CollectingOutput(), now: { now }) { context in
                try await CertificateCheck.run(inventory: inv, state: StateDirectory(inventory: inv), now: now, in: context)
            }
        }
        switch output.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .text:
            print(HostCertsTable.render(report.rows))
            for (host, why) in report.unreachable.sorted(by: { $0.key < $1.key }) { print("\(host): unreachable: \(why)") }
        }
        let errors = report.rows.filter { $0.status == .error }
        let warnings = report.rows.filter { $0.status == .warning }
        if !warnings.isEmpty { printError("warning: \(warnings.count) certificate(s) expiring, missing or differing from the state") }
        if report.hasErrors {
            printError("error: \(errors.count) certificate(s) expired or unreadable, \(report.unreachable.count) host(s) unreachable; run capstan certs rotate -i FILE --expiring-within 30d")
            throw ExitCode(1)
        }
    }
}

enum HostCertsTable {
    static func render(_ rows: [HostCertificateRow]) -> String {
        let f = ISO8601DateFormatter()
        let header = ["HOST", "FILE", "CN", "ISSUER", "NOT AFTER", "DAYS", "SERIAL", "STATUS", "PROBLEMS"]
        let lines = rows.map { r in
            [r.host, r.file, r.found?.commonName ?? "-", r.found?.issuer ?? "-", r.found.map { f.string(from: $0.notAfter) } ?? "-",
             r.daysLeft.map(String.init) ?? "-", r.found.map { String($0.serial.prefix(16)) } ?? "-", r.status.rawValue,
             r.problems.isEmpty ? (r.matchesState == true ? "matches state" : "-") : r.problems.joined(separator: "; ")]
        }
        var widths = header.map(\.count)
        for l in lines { for (i, c) in l.enumerated() where i < header.count - 1 { widths[i] = max(widths[i], c.count) } }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        return ([format(header)] + lines.map(format)).joined(separator: "\n")
    }
}
