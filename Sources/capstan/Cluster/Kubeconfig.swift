import ArgumentParser
import Foundation
import Inventory
import PKI

struct KubeconfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Write an admin kubeconfig for the cluster.",
        discussion: HelpExamples.discussion("kubeconfig", """
        Renders the kubeconfig from the local PKI state (create it first with `capstan apply`), with the \
        control-plane endpoint as server. Prints it unless --output is given; a written file is 0600 and \
        an existing one is replaced only with --force. A managed cluster is refused: its provider issues credentials.
        """)
    )

    enum User: String, ExpressibleByArgument, CaseIterable {
        case admin = "admin"
        case superAdmin = "super-admin"

        /// The catalog row: admin is `kubeadm:cluster-admins`, super-admin is `system:masters` (break-glass).
        var catalogName: String { rawValue + ".conf" }
    }

    @OptionGroup var inventory: InventoryOption
    @Option(help: "Which credential: admin (group kubeadm:cluster-admins) or super-admin (system:masters, break-glass).")
    var user: User = .admin
    @Option(name: .customLong("output"), help: "Write to this file (0600) instead of printing; - prints.")
    var outputPath: String?
    @Flag(help: "Replace an existing --output file.") var force = false

    func run() async throws {
        let (inv, _) = try inventory.load(checkFiles: false)
        guard inv.isSelfManaged else {
            let provider = inv.controlPlane.managed?.provider.displayName ?? ManagedProvider.other.displayName
            printError("error: capstan kubeconfig: cluster \(inv.name) is managed by \(provider): the provider issues its credentials and Capstan holds no admin certificate; get a kubeconfig from the provider's tooling")
            throw ExitCode(1)
        }
        let text = try Self.render(inv, user: user)
        guard let outputPath, outputPath != "-" else {
            print(text, terminator: "")
            return
        }
        if !force, FileManager.default.fileExists(atPath: outputPath) {
            printError("error: \(outputPath) already exists; use --force to overwrite it")
            throw ExitCode(1)
        }
        do {
            try StateDirectory.export(Data(text.utf8), to: outputPath, mode: 0o600, overwrite: force)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        printError("wrote \(outputPath) (\(user.rawValue), server \(try inv.apiEndpoint().url))")
    }

    /// The kubeconfig from the state's CA, client certificate and key, with the inventory's endpoint as server.
    static func render(_ inv: Inventory, user: User) throws -> String {
        let state = StateDirectory(inventory: inv)
        let required = try CertificateCatalog.required(for: inv)
        guard let req = required.first(where: { $0.name == user.catalogName }), let server = req.server else {
            throw PKIError("no \(user.rawValue) kubeconfig in the catalog", reason: "catalog row \(user.catalogName) missing", hint: "report this as a bug")
        }
        func text(_ relative: String) throws -> String {
            guard let data = try state.read(relative) else {
                throw PKIError("no \(user.rawValue) credentials in the state directory", subject: state.path(relative),
                               reason: "file missing", hint: "create the PKI first (capstan apply, or capstan certs generate -i FILE)")
            }
            return String(decoding: data, as: UTF8.self)
        }
        let caPEM = try text("pki/ca.crt"), certPEM = try text(req.certPath), keyPEM = try text(req.keyPath)
        let status = try PKIManager(inventory: inv, state: state).list(now: Date()).first { $0.name == req.name }
        if let status, status.severity == .error {
            printError("warning: the \(user.rawValue) certificate expired on \(status.notAfter); run capstan certs renew \(user.catalogName)")
        }
        return Kubeconfig.render(cluster: inv.name, server: server, caPEM: caPEM, user: req.commonName, certPEM: certPEM, keyPEM: keyPEM)
    }
}
