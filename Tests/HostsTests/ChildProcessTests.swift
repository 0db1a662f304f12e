import Foundation
import Hosts
import Testing
import TestSupport

@Suite("ChildProcess: the one way local programs are started", .tags(.unit))
struct ChildProcessTests {
    @Test("runBlocking feeds 1 MiB of stdin while 1 MiB goes to stdout and 1 MiB to stderr, without a deadlock")
    func blockingFullPipes() throws {
        let input = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let out = try ChildProcess.runBlocking(["sh", "-c", "head -c 1048576 /dev/zero >&2; cat; exit 7"], input: input)
        #expect(out.status == 7)
        #expect(out.stdout == input)
        #expect(out.stderr.count == 1 << 20)
    }

    @Test("a synchronous caller polls a running child (nil), kills it and blocks until its status arrives (SIGKILL)")
    func blockingWait() throws {
        let output = NSTemporaryDirectory() + "capstan-wait-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = try ChildProcess(["sh", "-c", "echo started; exec sleep 30"], stdin: false, outputPath: output)
        #expect(child.exitedStatus == nil)
        child.signal(SIGKILL)
        let status = child.waitStatusBlocking()
        #expect(ChildProcess.exitCode(status) == 128 + SIGKILL)
        #expect(child.exitedStatus == status)
        let quick = try ChildProcess(["sh", "-c", "exit 3"], stdin: false)
        #expect(ChildProcess.exitCode(quick.waitStatusBlocking()) == 3)
    }

    @Test("a child gets stdin, stdout and stderr only, not a descriptor this process opened without close-on-exec")
    func onlyStandardDescriptors() async throws {
        let path = NSTemporaryDirectory() + "capstan-fd-" + UUID().uuidString
        #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_RDONLY)
        try #require(fd > 2)
        defer { close(fd) }
        // What the child's descriptor `fd` is, read from the shell's own entry (no pipeline: a shell holds pipe
        // ends of its own while it sets one up).
        let probe = "readlink /proc/$$/fd/\(fd) || echo closed"
        let blocking = String(decoding: try ChildProcess.runBlocking(["sh", "-c", probe]).stdout, as: UTF8.self)
        #expect(blocking == "closed\n", "the child holds \(path) as fd \(fd): \(blocking)")
        let viaConnection = try await LocalConnection().run(ShellCommand("sh", "-c", probe)).stdoutText
        #expect(viaConnection == "closed\n", "the child holds \(path) as fd \(fd): \(viaConnection)")
    }

    @Test("a LocalConnection timeout kills what the shell started too (its own process group)")
    func timeoutKillsGrandchildren() async throws {
        let pidFile = NSTemporaryDirectory() + "capstan-pid-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        await #expect(throws: HostError.self) {
            _ = try await LocalConnection().run(ShellCommand("sh", "-c", "sleep 300 & echo $! > \"$1\"; wait", "sh", pidFile),
                                                options: RunOptions(timeoutSeconds: 1))
        }
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<50 where !gone {
            // Killed and reaped by init, or a zombie for a moment: either way not sleeping any more.
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
            gone = state == nil || state == "Z"
            if !gone { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        #expect(gone, "sleep (pid \(pid)) outlived the timeout")
        if !gone { kill(pid, SIGKILL) }
    }
}
