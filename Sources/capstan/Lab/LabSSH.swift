import ArgumentParser
import Foundation
import Lab

struct LabSSH: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ssh", abstract: "Open a shell (or run a command) on a lab host.", discussion: HelpExamples.discussion("lab ssh"))

    @OptionGroup var lab: LabNameOption

    @Argument(help: "Host name, e.g. h1.")
    var host: String

    @Argument(parsing: .captureForPassthrough, help: "Command to run instead of a shell.")
    var command: [String] = []

    func run() async throws {
        let lab = try lab.open()
        let target = try labCall { try lab.host(named: host) }
        let arguments = lab.sshArguments(target.address, command: command)
        guard let ssh = LocalProcess.which("ssh") else { throw LabFailure(description: "capstan lab ssh: ssh is not installed (apt-get install openssh-client)") }
        var cArgs = arguments.map { strdup($0) }
        cArgs.append(nil)
        execv(ssh, cArgs)
        throw LabFailure(description: "capstan lab ssh: cannot run \(ssh): \(String(cString: strerror(errno)))")
    }
}
