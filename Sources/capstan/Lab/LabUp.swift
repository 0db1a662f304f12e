import ArgumentParser
import Foundation
import Lab

struct LabUp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Create and boot lab hosts and write their inventory.", discussion: HelpExamples.discussion("lab up"))

    @Option(name: .long, help: "Number of hosts (1-\(LabLayout.maxHosts)); the first 3 (1 when fewer) run control plane and etcd.")
    var hosts: Int = 3

    @OptionGroup var lab: LabNameOption

    func run() async throws {
        let lab = try lab.open()
        let status = try labCall { try lab.up(hosts: hosts, progress: .standardOutput) }
        for host in status.hosts { print("\(host.name)\t\(host.address)\t\(host.state.rawValue)\t\(host.roles.joined(separator: ","))") }
        print(status.inventory ?? lab.inventoryPath)
        FileHandle.standardError.write(Data((LabStatusCommand.kubernetesLine(status) + "\n").utf8))
    }
}
