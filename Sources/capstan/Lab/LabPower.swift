import ArgumentParser
import Lab

struct LabStop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Power a lab host off (gracefully, keeping its disk).", discussion: HelpExamples.discussion("lab stop"))

    @OptionGroup var lab: LabNameOption

    @Argument(help: "Host name, e.g. h2.")
    var host: String

    func run() async throws {
        let lab = try lab.open()
        try labCall { try lab.stop(host: host) }
        print("\(host) stopped")
    }
}

struct LabStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Power a lab host on again and wait until sshd answers.", discussion: HelpExamples.discussion("lab start"))

    @OptionGroup var lab: LabNameOption

    @Argument(help: "Host name, e.g. h2.")
    var host: String

    func run() async throws {
        let lab = try lab.open()
        try labCall { try lab.start(host: host) }
        print("\(host) running")
    }
}
