import Foundation
import Hosts
import Inventory

/// The Kubernetes counterpart of `EtcdVersionGate`: a plain `apply` never moves an installed
/// component to another version — not up (that is `capstan upgrade apply`, with its backup, drain and
/// health gates) and not down (an inventory left at the old version after an upgrade would otherwise
/// put the old binaries back). Hosts with nothing installed yet are free to receive the inventory's version.
public enum KubernetesVersionGate {
    public static let phaseName = "kubernetes-version"

    /// Nil when every installed component already runs `target`; else the refusal naming hosts and components.
    public static func refusal(running: [HostVersions], target: SemanticVersion) -> WorkflowError? {
        var older: [String] = []
        var newer: [String] = []
        for host in running.sorted(by: { $0.host < $1.host }) {
            for component in KubeComponent.allCases where component != .kubectl {
                guard let version = host.components[component], version != target else { continue }
                let text = "\(host.host) \(component.rawValue) \(version)"
                if version < target { older.append(text) } else { newer.append(text) }
            }
        }
        if !newer.isEmpty {
            return WorkflowError.refused(
                what: "install Kubernetes \(target)", found: "\(newer.joined(separator: ", ")): newer than the inventory's kubernetesVersion; a plain apply never downgrades",
                next: "set spec.kubernetesVersion to the version that runs (after `capstan upgrade apply` the inventory must name the new version), or go back with `capstan upgrade rollback -i FILE`")
        }
        if !older.isEmpty {
            return WorkflowError.refused(
                what: "install Kubernetes \(target)", found: "\(older.joined(separator: ", ")); a plain apply never upgrades",
                next: "run `capstan upgrade plan -i FILE --to \(target)` to check the path, then `capstan upgrade apply -i FILE --to \(target)` (backup first, one control-plane host at a time, workers drained in batches)")
        }
        return nil
    }

    /// A phase that reads the installed versions on `hosts` (one command each) and refuses a change.
    /// Unreachable hosts fail here, before anything is changed anywhere. With `artifacts`, binaries the
    /// host's checksum record shows to be the inventory's release files are not run to ask their version.
    public static func phase(inventory: Inventory, hosts: [String], binDir: String = NodeArtifacts.binDir,
                             artifacts: ArtifactStore? = nil) -> Phase {
        Phase(phaseName, concerning: hosts, next: "no host was changed") { ctx in
            let outcomes = await UpgradeFacts.installedVersions(hosts, inventory: inventory, binDir: binDir, artifacts: artifacts, in: ctx)
            if let failed = outcomes.first(where: { $0.error != nil }), let error = failed.error { throw error }
            if let refusal = refusal(running: outcomes.compactMap(\.value), target: inventory.kubernetesVersion) { throw refusal }
        }
    }
}
