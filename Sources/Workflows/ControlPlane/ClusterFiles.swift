import Foundation
import Hosts
import Inventory
import PKI

/// The PKI files and kubeconfigs each host receives, read from the state directory at kubeadm's paths.
public struct ClusterFiles: Sendable {
    public var inventory: Inventory
    public var state: StateDirectory
    let required: [RequiredCertificate]

    public init(inventory: Inventory, state: StateDirectory) throws {
        self.inventory = inventory
        self.state = state
        self.required = try CertificateCatalog.required(for: inventory)
    }

    /// Every file `host` gets (`PKIManager.hostFiles`); keys and kubeconfigs are secrets.
    public func files(for host: HostSpec) throws -> [ManagedFile] {
        try PKIManager.hostFiles(for: host, required: required, inventory: inventory).map { file in
            guard let data = try state.read(file.statePath) else {
                throw WorkflowError.missingStateFile(path: state.path(file.statePath), host: host.name, remotePath: file.remotePath)
            }
            return ManagedFile(path: file.remotePath, content: data, attributes: FileAttributes(mode: UInt32(file.mode)),
                               secret: file.mode & 0o077 == 0)
        }
    }

    /// Whether the controller manager can sign (an external CA may come without its key).
    var clusterSigning: Bool { inventory.pki.externalCA == nil || inventory.pki.externalCA?.keyFile != nil }
}
