import Foundation
import Hosts
import Inventory
import PKI

/// One certificate as found on a host (a file, or what etcd serves on its client port), compared with
/// the state directory.
public struct HostCertificateRow: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        case ok, warning, error
    }

    public var host: String
    /// Remote path, or `https://ADDR:2379 (served)` (etcd) / `https://ADDR:6443 (served)` (API server).
    public var file: String
    /// State path it should match; nil for the served certificate (compared with the member's server.crt).
    public var statePath: String?
    public var found: CertificateSummary?
    /// True when the host's bytes (or the served certificate) equal the state's.
    public var matchesState: Bool?
    public var daysLeft: Int?
    public var status: Status
    /// What is wrong, one phrase each: `expired`, `expires in 12 days`, `differs from the state`, `missing`.
    public var problems: [String]
}

public struct CertificateCheckReport: Sendable, Equatable, Codable {
    public var rows: [HostCertificateRow]
    /// Hosts that could not be read, with why.
    public var unreachable: [String: String]

    public var hasErrors: Bool { rows.contains { $0.status == .error } || !unreachable.isEmpty }
}

/// `capstan certs check`: reads every certificate the PKI places on each host (`PKIManager.hostFiles`)
/// and the certificates each etcd member (port 2379) and each installed API server (port 6443) serve,
/// and compares them with the state.
///
/// A served certificate is fetched with `openssl s_client` run on the host itself through the host's
/// connection (Debian's ca-certificates pulls openssl in; the lab base has it): it works through
/// bastions and needs nothing on this machine. The etcd handshake presents the member's healthcheck
/// client certificate because etcd requires client certificates; the API server's needs none.
public enum CertificateCheck {
    /// Prints the PEM of the certificate served at `$1:$2`, or nothing; further arguments go to s_client
    /// (a client certificate where the server requires one).
    static let servedScript = """
        command -v openssl >/dev/null 2>&1 || { echo "openssl not installed" >&2; exit 3; }
        a=$1 p=$2; shift 2
        timeout 10 openssl s_client -connect "$a:$p" -servername "$a" "$@" </dev/null 2>/dev/null \\
          | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'
        """

    /// The certificate `member` serves on its etcd client port, handshaking with its healthcheck client pair.
    public static func served(_ member: String, address: String, port: Int = 2379, pkiDir: String, in ctx: WorkflowContext) async -> (CertificateSummary?, String?) {
        await served(member, address: address, port: port, client: (pkiDir + "/healthcheck-client.crt", pkiDir + "/healthcheck-client.key"), in: ctx)
    }

    /// The certificate served at `address:port`, read on `host` (with `client` as the client pair when
    /// given); nil with a reason on failure.
    public static func served(_ host: String, address: String, port: Int, client: (cert: String, key: String)?, in ctx: WorkflowContext) async -> (CertificateSummary?, String?) {
        do {
            let c = try await ctx.reader(host)
            let extra = client.map { ["-cert", $0.cert, "-key", $0.key] } ?? []
            let r = try await c.run(ShellCommand(["sh", "-c", servedScript, "sh", address, String(port)] + extra), options: RunOptions(timeoutSeconds: 20))
            if r.exitStatus == 3 { return (nil, "openssl is not installed on \(host)") }
            guard r.stdoutText.contains("BEGIN CERTIFICATE") else { return (nil, "no TLS handshake with \(address):\(port)") }
            return (try CertificateSummary(pem: r.stdoutText), nil)
        } catch {
            return (nil, "\(error)")
        }
    }

    public static func run(inventory: Inventory, state: StateDirectory, now: Date, in ctx: WorkflowContext) async throws -> CertificateCheckReport {
        let required = try CertificateCatalog.required(for: inventory)
        let hosts = inventory.hosts
        let members = Set(inventory.etcdMembers.map(\.name))
        let pkiDir = PKIManager.remotePKIDirectory + "/etcd"
        let outcomes = await FanOut.run(hosts, name: \.name) { host -> [HostCertificateRow] in
            let files = PKIManager.hostFiles(for: host, required: required, inventory: inventory)
                .filter { $0.remotePath.hasSuffix(".crt") || $0.remotePath.hasSuffix(".conf") }
            let c = try await ctx.reader(host.name)
            var rows: [HostCertificateRow] = []
            for file in files {
                let stateData = try state.read(file.statePath)
                let hostData = try await c.read(file.remotePath)
                rows.append(row(host: host.name, file: file.remotePath, statePath: file.statePath, hostData: hostData, stateData: stateData, now: now))
            }
            if members.contains(host.name), let server = required.first(where: { $0.name == "etcd/server" && $0.host == host.name }) {
                let want = try state.read(server.certPath).flatMap { try? CertificateSummary(pem: String(decoding: $0, as: UTF8.self)) }
                rows.append(await servedRow(host: host.name, address: host.clusterAddress, port: 2379,
                                            client: (pkiDir + "/healthcheck-client.crt", pkiDir + "/healthcheck-client.key"),
                                            statePath: server.certPath, want: want, now: now, in: ctx))
            }
            if host.has(.controlPlane), let apiserver = required.first(where: { $0.name == "apiserver" && $0.host == host.name }),
               try await c.run(ShellCommand("test", "-e", "/etc/systemd/system/kube-apiserver.service")).succeeded {
                let want = try state.read(apiserver.certPath).flatMap { try? CertificateSummary(pem: String(decoding: $0, as: UTF8.self)) }
                rows.append(await servedRow(host: host.name, address: host.clusterAddress, port: CertRotation.apiServerPort, client: nil,
                                            statePath: apiserver.certPath, want: want, now: now, in: ctx))
            }
            return rows
        }
        var report = CertificateCheckReport(rows: [], unreachable: [:])
        for o in outcomes {
            if let rows = o.value { report.rows += rows }
            if let e = o.error { report.unreachable[o.host] = "\(e)" }
        }
        report.rows.sort { a, b in
            let ad = a.found?.notAfter ?? .distantPast, bd = b.found?.notAfter ?? .distantPast
            return (ad, a.host, a.file) < (bd, b.host, b.file)
        }
        return report
    }

    /// The row of a served certificate: unreadable is an error, differing from the state a warning.
    static func servedRow(host: String, address: String, port: Int, client: (cert: String, key: String)?, statePath: String,
                          want: CertificateSummary?, now: Date, in ctx: WorkflowContext) async -> HostCertificateRow {
        let (summary, why) = await served(host, address: address, port: port, client: client, in: ctx)
        var r = HostCertificateRow(host: host, file: "https://\(address):\(port) (served)", statePath: statePath,
                                   found: summary, matchesState: nil, daysLeft: nil, status: .ok, problems: [])
        if let summary {
            r.matchesState = want.map { $0.sha256 == summary.sha256 }
            grade(&r, summary, now: now)
            if r.matchesState == false { r.problems.append("serves serial \(summary.serial), the state holds \(want?.serial ?? "-")"); r.status = max(r.status, .warning) }
        } else {
            r.status = .error
            r.problems.append("served certificate unreadable: \(why ?? "unknown")")
        }
        return r
    }

    static func row(host: String, file: String, statePath: String, hostData: Data?, stateData: Data?, now: Date) -> HostCertificateRow {
        var r = HostCertificateRow(host: host, file: file, statePath: statePath, found: nil, matchesState: nil, daysLeft: nil, status: .ok, problems: [])
        guard let hostData else {
            r.status = .warning
            r.problems.append("missing on the host")
            return r
        }
        r.matchesState = stateData.map { $0 == hostData }
        let text = String(decoding: hostData, as: UTF8.self)
        let parsed = try? (file.hasSuffix(".conf") ? CertificateSummary.kubeconfigClient(text) : CertificateSummary(pem: text))
        guard let summary = parsed else {
            r.status = .error
            r.problems.append("cannot parse the certificate")
            return r
        }
        grade(&r, summary, now: now)
        if r.matchesState == false {
            r.status = max(r.status, .warning)
            r.problems.append("differs from the state")
        }
        if stateData == nil { r.problems.append("not in the state") }
        return r
    }

    static func grade(_ r: inout HostCertificateRow, _ summary: CertificateSummary, now: Date) {
        r.found = summary
        r.daysLeft = summary.daysLeft(at: now)
        switch summary.severity(at: now) {
        case .error:
            r.status = .error
            r.problems.append("expired")
        case .warning:
            r.status = max(r.status, .warning)
            r.problems.append("expires in \(summary.daysLeft(at: now)) days")
        case .ok: break
        }
    }
}

extension HostCertificateRow.Status: Comparable {
    public static func < (a: Self, b: Self) -> Bool {
        let order: [Self] = [.ok, .warning, .error]
        return (order.firstIndex(of: a) ?? 0) < (order.firstIndex(of: b) ?? 0)
    }
}
