import Foundation
import Hosts
import Inventory
import PKI

/// What `capstan state import` brought back, and what it could not.
public struct StateImportReport: Sendable, Equatable, Codable {
    public var from: String
    public var record: ClusterRecord
    /// The record was on the hosts (false: none yet, a new one was made and `apply` writes it).
    public var recordFromHosts: Bool
    /// State paths written, per host they were read from.
    public var files: [String: [String]]
    /// What the hosts do not hold, each with its consequence.
    public var missing: [String]
    public var unreachable: [String: String]
}

/// Rebuilds a lost state directory from the hosts: the CAs, the keys the controller-manager and API
/// server use and the kubeconfigs from one control-plane host, every host's own leaves from that host.
/// It is the inverse of `PKIManager.hostFiles`: each file goes back to the state path it came from, so
/// the next `apply` finds everything in place and changes nothing. The etcd CA key never leaves the state
/// directory, so it cannot come back: the etcd CA is kept as a certificate only (`.key-absent`).
public enum StateImport {
    public static func run(inventory: Inventory, state: StateDirectory, from source: String, in ctx: WorkflowContext) async throws -> StateImportReport {
        guard inventory.isSelfManaged else {
            throw WorkflowError.inventory("state import: \(inventory.name) is a managed cluster; its state holds no PKI to import")
        }
        guard let sourceHost = inventory.hosts.first(where: { $0.name == source }) else {
            throw WorkflowError.inventory("state import --from \(source): no such host in the inventory (hosts: \(inventory.hosts.map(\.name).joined(separator: ", ")))")
        }
        guard sourceHost.has(.controlPlane) else {
            throw WorkflowError.inventory("state import --from \(source): \(source) is not a control-plane host; only those hold the cluster and front-proxy CA keys and the service-account key")
        }
        let trusted = try TrustedIdentity.load(inventory: inventory, state: state)
        guard trusted.isEmpty else {
            throw WorkflowError.refused(what: "import into \(state.root)", found: "it already holds a cluster (record or CA certificates)",
                                        next: "import into an empty directory (--state-dir DIR), or keep the state you have")
        }
        let required = try CertificateCatalog.required(for: inventory)
        var tx = StateDirectory.Transaction(state)
        var report = StateImportReport(from: source, record: ClusterRecord.new(cluster: inventory.name), recordFromHosts: false,
                                       files: [:], missing: [], unreachable: [:])

        // The source first: its CA files are the ones every other host is compared with.
        let source = try await read(sourceHost, inventory: inventory, required: required, shared: true, in: ctx)
        guard let record = source.record else {
            throw WorkflowError.refused(what: "import from \(sourceHost.name)", found: "it carries no cluster record (\(ClusterRecord.hostPath))",
                                        next: "run `capstan apply` once from the original state directory so the hosts carry their record, or restore that directory from a backup")
        }
        report.record = record
        report.recordFromHosts = true
        for (path, file) in source.files { try stage(file, path, &tx, into: &report, host: sourceHost.name) }
        // sa.pub with more keys than the signing one: a service-account key rotation was under way. The other
        // keys keep verifying (as retired ones) until `certs rotate-sa-key` drops them.
        if let pub = source.files["pki/sa.pub"]?.0, let key = source.files["pki/sa.key"]?.0,
           let extra = try ServiceAccountRotation.extraVerificationKeys(bundle: String(decoding: pub, as: UTF8.self), signingKey: String(decoding: key, as: UTF8.self)) {
            try stage((Data(extra.utf8), 0o644), ServiceAccountRotation.retiredPath, &tx, into: &report, host: sourceHost.name)
            let record = ServiceAccountRotation(step: .sign, startedAt: ctx.now(), signingSince: ctx.now())
            try stage((try PKIManager.encode(record), 0o600), ServiceAccountRotation.recordPath, &tx, into: &report, host: sourceHost.name)
        }
        // The Secrets encryption keys: without them a new key would be made and the Secrets in etcd unreadable.
        if let config = try await ctx.reader(sourceHost.name).read(SecretsEncryption.hostPath) {
            let encryption = try SecretsEncryption.imported(from: String(decoding: config, as: UTF8.self), now: ctx.now())
            try stage((try encryption.encoded(), 0o600), SecretsEncryption.path, &tx, into: &report, host: sourceHost.name)
        }

        let others = inventory.hosts.filter { $0.name != sourceHost.name }
        let outcomes = await FanOut.run(others, name: \.name) { host in
            try await read(host, inventory: inventory, required: required, shared: false, in: ctx)
        }
        for outcome in outcomes {
            switch outcome.result {
            case .failure(let error):
                report.unreachable[outcome.host] = "\(error)"
            case .success(let host):
                if let carried = host.record, carried != record {
                    throw WorkflowError.identityMismatch("\(outcome.host) carries cluster \"\(carried.cluster)\" uid \(carried.uid), \(sourceHost.name) carries uid \(record.uid): the inventory mixes clusters. Nothing was imported.")
                }
                for (path, file) in host.files { try stage(file, path, &tx, into: &report, host: outcome.host) }
                report.missing += host.missing
            }
        }
        report.missing = source.missing + report.missing
        // The etcd CA key is never on a host: its certificate comes back alone, marked as such.
        if try tx.read("pki/etcd/ca.key") == nil, try tx.read("pki/etcd/ca.crt") != nil {
            _ = try tx.write(Data("""
                The etcd CA key never leaves the state directory, so `capstan state import` could not bring it back.
                etcd certificates cannot be re-issued and the etcd CA cannot be rotated until pki/etcd/ca.key is restored
                from a backup taken with includePKI (then delete this file).

                """.utf8), to: PKIManager.keyAbsentPath(.etcd), mode: 0o600)
            report.missing.insert("pki/etcd/ca.key: the etcd CA key never leaves the state directory; restore it from a backup taken with includePKI before etcd certificates need renewing or the etcd CA a rotation", at: 0)
        }
        report.missing.append("kubeconfig/super-admin.conf: kept in the state directory only; the next `apply` issues a new one (local, no host changes)")
        _ = try tx.write(try record.encoded(), to: ClusterRecord.statePath, mode: 0o600)
        try await ctx.changeState("import \(tx.paths.count) file(s) into \(state.root)") { [tx] in
            try state.ensureDirectory()
            try tx.commit()
        }
        return report
    }

    struct HostRead: Sendable {
        var record: ClusterRecord?
        /// State path → (content, mode).
        var files: [String: (Data, mode_t)]
        var missing: [String]
    }

    /// Reads the files `host` received. `shared`: also the cluster-wide files (CAs, keys, kubeconfigs of the
    /// cluster scope), taken from the source host only.
    static func read(_ host: HostSpec, inventory: Inventory, required: [RequiredCertificate], shared: Bool,
                     in ctx: WorkflowContext) async throws -> HostRead {
        let connection = try await ctx.reader(host.name)
        let record = try await connection.read(ClusterRecord.hostPath).map(ClusterRecord.decode)
        var out = HostRead(record: record, files: [:], missing: [])
        for file in PKIManager.hostFiles(for: host, required: required, inventory: inventory) {
            let owned = required.first { $0.kubeconfigPath == file.statePath || $0.certPath == file.statePath || $0.keyPath == file.statePath }
            let perHost = owned?.host == host.name
            guard shared || perHost else { continue }
            guard let data = try await connection.read(file.remotePath) else {
                out.missing.append("\(file.statePath): not on \(host.name) at \(file.remotePath)")
                continue
            }
            out.files[file.statePath] = (data, mode_t(file.mode))
            // A kubeconfig embeds its client certificate and key, which the state keeps beside it.
            if let req = owned, req.kubeconfigPath == file.statePath {
                let text = String(decoding: data, as: UTF8.self)
                guard let cert = embedded("client-certificate-data", in: text), let key = embedded("client-key-data", in: text) else {
                    out.missing.append("\(req.certPath): \(file.remotePath) on \(host.name) has no embedded client certificate and key")
                    continue
                }
                out.files[req.certPath] = (cert, 0o644)
                out.files[req.keyPath] = (key, 0o600)
            }
        }
        return out
    }

    static func embedded(_ field: String, in kubeconfig: String) -> Data? {
        for line in kubeconfig.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(field + ":") else { continue }
            return Data(base64Encoded: trimmed.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    static func stage(_ file: (Data, mode_t), _ path: String, _ tx: inout StateDirectory.Transaction,
                      into report: inout StateImportReport, host: String) throws {
        if try tx.write(file.0, to: path, mode: file.1) { report.files[host, default: []].append(path) }
    }
}
