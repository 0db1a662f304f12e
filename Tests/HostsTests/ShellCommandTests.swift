import Testing
import TestSupport
@testable import Hosts

@Suite("ShellCommand quoting", .tags(.unit))
struct ShellCommandTests {
    @Test("safe words stay bare, everything else is single-quoted")
    func quoting() {
        #expect(ShellCommand("systemctl", "restart", "etcd.service").line == "systemctl restart etcd.service")
        #expect(ShellCommand("echo", "a b").line == "echo 'a b'")
        #expect(ShellCommand("echo", "it's").line == #"echo 'it'\''s'"#)
        #expect(ShellCommand("echo", "").line == "echo ''")
        #expect(ShellCommand("echo", "$(reboot)").line == "echo '$(reboot)'")
    }

    @Test("quoted arguments round-trip through a real sh")
    func roundTrip() throws {
        let nasty = ["a b", "it's", "$HOME", "`id`", "x;y", "\"q\"", "back\\slash", "new\nline", "*"]
        for value in nasty {
            let cmd = ShellCommand("printf", "%s", value)
            let out = try runSh(cmd.line)
            #expect(out == value)
        }
    }

    @Test("sudo wrapping keeps pipes inside the privileged shell")
    func sudo() {
        let cmd = ShellCommand("echo", "hi").piped(to: ShellCommand("tee", "/etc/x")).withSudo
        #expect(cmd.line == "sudo -n sh -c 'echo hi | tee /etc/x'")
    }
}

import Foundation
func runSh(_ line: String) throws -> String {
    try runProgram(["sh", "-c", line]).stdout
}
