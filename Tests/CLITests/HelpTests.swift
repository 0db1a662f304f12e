import Foundation
import Testing

/// Runs the built `capstan` executable as a user would.
func capstan(_ args: [String], stdin: String? = nil) throws -> (status: Int32, out: String, err: String) {
    try runProcess(productsDirectory.appendingPathComponent("capstan"), args)
}

/// Runs `executable` with `args` to completion and returns its status, stdout and stderr.
func runProcess(_ executable: URL, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    // Never a terminal: commands that ask refuse instead of waiting for an answer.
    p.standardInput = FileHandle.nullDevice
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// The directory holding the built products (the test bundle sits beside the executable).
let productsDirectory: URL = {
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}()

@Suite("capstan command tree")
struct HelpTests {
    @Test("--help lists every command of the design")
    func helpListsCommands() throws {
        let r = try capstan(["--help"])
        #expect(r.status == 0)
        for cmd in ["init", "validate", "plan", "apply", "status", "certs", "backup", "upgrade", "node", "reset", "kubeconfig", "lab"] {
            #expect(r.out.contains("  \(cmd)"), "missing \(cmd) in --help")
        }
    }
}
