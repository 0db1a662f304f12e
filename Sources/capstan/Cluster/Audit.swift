import ArgumentParser
import Foundation
import Inventory
import Workflows

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the live cluster against the CIS Kubernetes Benchmark (reads the hosts, changes nothing).",
        discussion: HelpExamples.discussion("audit", """
            Reads every host's unit files, kubelet and kube-proxy configuration, EncryptionConfiguration providers and \
            the modes and owners of the files the benchmark names, and reports each check as pass, fail, differs \
            (Capstan deliberately does otherwise; the reason is given) or manual (left to judgement by the benchmark; \
            what the host has is given). Checks are numbered as in CIS Kubernetes Benchmark v1.11 (Kubernetes 1.29-1.31) \
            and v1.12 (1.32), for a systemd layout (unit files stand for the pod specifications). Self-managed \
            clusters only. Exits 1 when a check fails or a host does not answer.
            """)
    )

    @OptionGroup var inventory: InventoryOption
    @OptionGroup var output: OutputOption
    @Option(name: .customLong("host"), help: "Audit these hosts only (repeatable).") var only: [String] = []

    func run() async throws {
        let (inv, _) = try inventory.load()
        if let refusal = ManagedMode.refusal(for: .controlPlaneAudit, inventory: inv) {
            printError("audit: \(refusal)")
            throw ExitCode(ExitStatus.refused)
        }
        let unknown = only.filter { name in !inv.hosts.contains { $0.name == name } }
        guard unknown.isEmpty else { throw ValidationError("--host \(unknown.joined(separator: ", ")): not in the inventory") }
        let hosts = inv.hosts.filter { only.isEmpty || only.contains($0.name) }
        let report = try await exitOnFailure {
            try await LiveContext.run(inventory: inv, mode: .plan, output: CollectingOutput()) { ctx in
                try await ClusterAudit.run(inventory: inv, hosts: hosts, in: ctx)
            }
        }
        switch output.output {
        case .json: try printJSON(report)
        case .text: Self.print(report)
        }
        if report.failed > 0 || !report.unreachable.isEmpty { throw ExitCode(1) }
    }

    /// One line per check and status (hosts alike are named together), the details of every fail, differs and
    /// manual result, then the counts.
    static func print(_ report: ClusterAudit.Report) {
        Swift.print("\(report.benchmark), systemd layout")
        let order = { (id: String) in id.split(separator: ".").map { Int($0) ?? 0 } }
        var seen: [String: [ClusterAudit.Result]] = [:]
        for result in report.results { seen["\(result.id)|\(result.status.rawValue)", default: []].append(result) }
        let keys = seen.keys.sorted { a, b in
            let (x, y) = (order(String(a.split(separator: "|")[0])), order(String(b.split(separator: "|")[0])))
            return x == y ? a < b : x.lexicographicallyPrecedes(y)
        }
        for key in keys {
            guard let group = seen[key], let first = group.first else { continue }
            let status = first.status.rawValue.uppercased().padding(toLength: 7, withPad: " ", startingAt: 0)
            Swift.print("\(status) \(first.id.padding(toLength: 7, withPad: " ", startingAt: 0)) \(first.title) (\(group.map(\.host).joined(separator: ", ")))")
            if first.status != .pass {
                let details = Set(group.map(\.detail))
                for detail in details.sorted() {
                    let where_ = details.count == 1 ? "" : group.filter { $0.detail == detail }.map(\.host).joined(separator: ", ") + ": "
                    Swift.print("          \(where_)\(detail)")
                }
            }
        }
        for (host, reason) in report.unreachable.sorted(by: { $0.key < $1.key }) { Swift.print("UNREACHABLE \(host): \(reason)") }
        let count = { (s: ClusterAudit.Status) in report.results.filter { $0.status == s }.count }
        Swift.print("\(count(.pass)) pass, \(count(.fail)) fail, \(count(.differs)) differ on purpose, \(count(.manual)) manual, over \(Set(report.results.map(\.host)).count) host(s)")
    }
}
