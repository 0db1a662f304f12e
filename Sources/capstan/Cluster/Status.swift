import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every host's reachability over SSH (with the reason), etcd members, leader and DB size, the cluster identity, API balancers and the pod network.",
        discussion: "Exit status: 0 healthy; 1 when etcd is unhealthy, a host does not answer over SSH or belongs to another cluster.")

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption

    /// Exits 1 when the cluster is unhealthy; a member that is down is reported, not an error of the command.
    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        guard inventory.isSelfManaged else {
            print("\(inventory.name) is a managed cluster: etcd belongs to \(inventory.controlPlane.managed?.provider.displayName ?? "the provider").")
            let (network, unreachable) = try await LiveContext.run(inventory: inventory, mode: .plan, output: CollectingOutput()) { context in
                (await PodNetworkStatus.gather(inventory: inventory, state: StateDirectory(inventory: inventory), in: context),
                 await LiveContext.unreachable(inventory.hosts.map(\.name), in: context))
            }
            print(network.text, terminator: "")
            for host in unreachable.keys.sorted() { print("\(host): not answering over SSH: \(unreachable[host] ?? "")") }
            if !unreachable.isEmpty { throw ExitCode(1) }
            return
        }
        let spec: EtcdClusterSpec
        do { spec = try EtcdClusterSpec(inventory: inventory) } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let state = StateDirectory(inventory: inventory)
        let (report, network, balancers) = try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: .plan, output: CollectingOutput()) { context in
                var report = await EtcdStatusReport.gather(spec: spec, in: context)
                let (outcome, unread) = try await ClusterIdentityGuard.observe(inventory: inventory, state: state, in: context)
                report.attach(identity: outcome, unread: unread, uid: try state.clusterRecord()?.uid)
                report.attach(unreachable: await LiveContext.unreachable(inventory.hosts.map(\.name), in: context))
                return (report, await PodNetworkStatus.gather(inventory: inventory, state: state, in: context),
                        await BalancerStatus.gather(inventory: inventory, in: context))
            }
        }
        switch outputOption.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            // The etcd report's keys stay at the top; the pod network and the API balancers join them, each under one key.
            var document = try JSONSerialization.jsonObject(with: try encoder.encode(report)) as? [String: Any] ?? [:]
            document["podNetwork"] = try JSONSerialization.jsonObject(with: try encoder.encode(network))
            document["balancers"] = try JSONSerialization.jsonObject(with: try encoder.encode(balancers))
            print(String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self))
        case .text:
            print(report.text + balancers.text, terminator: "")
            // Not part of the exit code: a network not yet applied (`apply --only etcd`) is no etcd failure.
            print(network.text, terminator: "")
        }
        if !report.healthy { throw ExitCode(1) }
    }
}
