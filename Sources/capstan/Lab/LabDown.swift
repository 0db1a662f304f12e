import ArgumentParser
import Lab

struct LabDown: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down", abstract: "Remove everything the lab made (also after a crash).", discussion: HelpExamples.discussion("lab down"))

    @OptionGroup var lab: LabNameOption

    func run() async throws {
        let lab = try lab.open()
        try labCall { try lab.down(progress: .standardOutput) }
    }
}
