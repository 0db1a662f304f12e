import Foundation

/// The example inventories `capstan init` writes: the files of `inventories/` at the top of the
/// repository, shipped in the Templates bundle beside `templates/` so the two cannot drift apart.
public struct ExampleInventory: Sendable, Equatable {
    public var name: String
    public var summary: String

    public static func named(_ name: String) -> ExampleInventory? { all.first { $0.name == name } }

    public static let all: [ExampleInventory] = [
        ExampleInventory(name: "lab", summary: "the local lab: 3 hosts made by `capstan lab up` (stacked etcd 3.4.23 from Debian, local artifacts)"),
        ExampleInventory(name: "bare-metal-ha", summary: "bare-metal HA: 3 control-plane+etcd hosts, 4 workers, bastion, VIP, encrypted off-host backups"),
        ExampleInventory(name: "external-etcd", summary: "external etcd: 3 dedicated etcd hosts, 2 control-plane hosts behind a load balancer, 3 workers"),
        ExampleInventory(name: "managed-workers", summary: "managed control plane (EKS) with self-managed workers"),
    ]

    /// The directory of the shipped example files.
    public static var directory: String {
        if let url = Bundle.module.url(forResource: "inventories", withExtension: nil) { return url.path }
        return Bundle.module.bundlePath + "/inventories"
    }

    /// The example's YAML text, read from the bundle.
    public func text() throws -> String {
        try String(contentsOfFile: Self.directory + "/" + name + ".yaml", encoding: .utf8)
    }
}
