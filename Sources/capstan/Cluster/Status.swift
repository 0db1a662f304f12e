import ArgumentParser
import Foundation
import Inventory
import Workflows

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "etcd members, leader, DB size; services; certificate expiry.")

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption

    /// Exits 1 when the cluster is unhealthy; a member that is down is reported, not an error of the command.
    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        guard inventory.isSelfManaged else {
            print("\(inventory.name) is a managed cluster: etcd belongs to \(inventory.controlPlane.managed?.provider.displayName ?? "the provider").")
            return
        }
        let spec: EtcdClusterSpec
        do { spec = try EtcdClusterSpec(inventory: inventory) } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
        let (report, balancers) = try await LiveContext.run(inventory: inventory, mode: .plan, output: CollectingOutput()) { context in
            (await EtcdStatusReport.gather(spec: spec, in: context), await BalancerStatus.gather(inventory: inventory, in: context))
        }
        switch outputOption.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .text:
            print(report.text + balancers.text, terminator: "")
        }
        if !report.healthy { throw ExitCode(1) }
    }
}
