import ArgumentParser
import Foundation
import Lab

struct LabStatusCommand: AsyncParsableCommand {
    /// What the lab's Kubernetes binaries are, and which inventory has them.
    static func kubernetesLine(_ status: LabStatus) -> String {
        if let k8s = status.kubernetesInventory {
            return "with Kubernetes: \(k8s) (Capstan's stand-ins from scripts/lab-demo.sh, not Kubernetes; etcd, containerd, runc and CNI are real)"
        }
        return "Kubernetes binaries: none in the lab's artifact directory (they cannot be downloaded here); scripts/lab-demo.sh adds Capstan's stand-ins and writes inventory-k8s.yaml"
    }

    static let configuration = CommandConfiguration(commandName: "status", abstract: "List lab hosts and the inventory path.", discussion: HelpExamples.discussion("lab status"))

    @OptionGroup var lab: LabNameOption
    @OptionGroup var output: OutputOption

    func run() async throws {
        let status = try lab.open().status()
        switch output.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        case .text:
            guard status.exists else {
                print("lab \(status.name) does not exist (capstan lab up --name \(status.name))")
                return
            }
            print("lab \(status.name) (\(status.network))")
            for host in status.hosts {
                print("  \(host.name)\t\(host.address)\t\(host.state.rawValue)\t\(host.roles.joined(separator: ","))")
            }
            print("inventory: \(status.inventory ?? "not written yet")")
            print(LabStatusCommand.kubernetesLine(status))
        }
    }
}
