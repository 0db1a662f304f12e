import ArgumentParser
import Foundation
import Lab

struct LabStatusCommand: AsyncParsableCommand {
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
        }
    }
}
