import Foundation
import Hosts
import Testing
import TestSupport
@testable import Workflows

/// Counts what a connection does on the remote side: commands run and SFTP reads, per host.
final class RoundTrips: @unchecked Sendable {
    private let lock = NSLock()
    private var commands: [String: [String]] = [:]
    private var reads: [String: Int] = [:]
    private var ordered: [(host: String, line: String)] = []
    func command(_ host: String, _ line: String) {
        lock.withLock {
            commands[host, default: []].append(line)
            ordered.append((host, line))
        }
    }
    /// Every command of every host, in the order they were sent.
    var all: [(host: String, line: String)] { lock.withLock { ordered } }
    func read(_ host: String) { lock.withLock { reads[host, default: 0] += 1 } }
    func commands(_ host: String) -> [String] { lock.withLock { commands[host] ?? [] } }
    func reads(_ host: String) -> Int { lock.withLock { reads[host] ?? 0 } }
    func reset() { lock.withLock { commands = [:]; reads = [:]; ordered = [] } }
}

struct CountingConnection: HostConnection {
    let inner: SystemdDoubleConnection
    let trips: RoundTrips
    var hostName: String { inner.hostName }
    func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
        trips.command(hostName, command.line)
        return try await inner.run(command, options: options)
    }
    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        trips.command(hostName, command.line)
        return try await inner.stream(command, options: options, onStdout: onStdout)
    }
    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws { try await inner.write(data, to: path, attributes: attributes) }
    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws { try await inner.upload(localFile: localFile, to: path, attributes: attributes) }
    func read(_ path: String) async throws -> Data? {
        trips.read(hostName)
        return try await inner.read(path)
    }
    func download(_ path: String, toLocalFile localPath: String) async throws { try await inner.download(path, toLocalFile: localPath) }
    func close() async {}
}

struct CountingConnector: HostConnector {
    let base: String
    let systemd: SystemdDouble
    let trips: RoundTrips
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        CountingConnection(inner: SystemdDoubleConnection(local: RootedHost(hostName: endpoint.name, root: base + "/" + endpoint.name), systemd: systemd), trips: trips)
    }
}

@Suite("Surveys: one command reads a host's managed files and units; changes still go through the guarded path", .tags(.unit))
struct SurveyTests {
    @Test("parses stat, sha256sum and systemctl show output into present, absent and unreadable files and unit states")
    func parse() {
        let sum = String(repeating: "ab", count: 32)
        let text = """
        #capstan-stat
        600 root:root 11:7:1795329280.047286294 /etc/a.key
        755 root:root 12:4096:1795329280.000000000 /etc/dir
        755 root:root 13:5000:1795329281.000000001 /bin/kept
        755 root:root 14:5000:1795329299.000000001 /bin/touched
        #capstan-sha256
        \(sum)  /etc/a.key
        #capstan-records
        \(String(repeating: "cd", count: 32)) 13:5000:1795329281.000000001 /bin/kept
        \(String(repeating: "ef", count: 32)) 14:5000:1795329281.000000001 /bin/touched
        \(String(repeating: "01", count: 32)) 15:5000:1795329281.000000001 /bin/gone
        #capstan-units
        Id=kubelet.service
        LoadState=loaded
        ActiveState=active
        SubState=running
        UnitFileState=enabled

        Id=etcd.service
        LoadState=not-found
        ActiveState=inactive
        SubState=dead
        UnitFileState=

        """
        let survey = HostSurvey.parse(text, paths: ["/etc/a.key", "/etc/dir", "/etc/none", "/bin/kept", "/bin/touched", "/bin/gone"],
                                      large: ["/bin/kept", "/bin/touched", "/bin/gone"], units: ["kubelet.service", "etcd", "kube-proxy.service"])
        // A large file whose inode, size and change time match its record is not hashed; one whose change
        // time moved is, and a recorded file that is gone is absent.
        #expect(survey.files["/bin/kept"] == .present(RemoteFileState(sha256: String(repeating: "cd", count: 32), mode: 0o755, owner: "root:root")))
        #expect(survey.files["/bin/touched"] == nil && survey.toHash.keys.sorted() == ["/bin/touched"])
        #expect(survey.files["/bin/gone"] == .absent)
        #expect(survey.files["/etc/a.key"] == .present(RemoteFileState(sha256: sum, mode: 0o600, owner: "root:root")))
        #expect(survey.files["/etc/dir"] == .unknown)
        #expect(survey.files["/etc/none"] == .absent)
        #expect(survey.units["kubelet.service"]?.isEnabled == true && survey.units["kubelet.service"]?.isRunning == true)
        #expect(survey.units["etcd"]?.loadState == "not-found" && survey.units["etcd"]?.isEnabled == false)
        // systemd said nothing about it: neither enabled nor active, so apply would enable and start it.
        #expect(survey.units["kube-proxy.service"]?.isRunning == false)
        let updated = HostSurvey.updatedRecord("\(sum) 1:2:3 /a\n\(sum) 4:5:6 /b\n", ["/b": (String(repeating: "cd", count: 32), "7:8:9")])
        #expect(updated == "\(sum) 1:2:3 /a\n\(String(repeating: "cd", count: 32)) 7:8:9 /b\n")
        // No answer at all (the command did not run): nothing is claimed.
        #expect(HostSurvey.parse("sudo: a password is required\n", paths: ["/etc/a"], units: ["x"]) == HostSurvey())
    }

    @Test("mode and owner are compared: `user` alone accepts any group, nil any owner")
    func attributes() {
        let state = RemoteFileState(sha256: "", mode: 0o640, owner: "etcd:etcd")
        #expect(state.matches(FileAttributes(mode: 0o640)))
        #expect(state.matches(FileAttributes(mode: 0o640, owner: "etcd")))
        #expect(state.matches(FileAttributes(mode: 0o640, owner: "etcd:etcd")))
        #expect(!state.matches(FileAttributes(mode: 0o640, owner: "root")))
        #expect(!state.matches(FileAttributes(mode: 0o640, owner: "etcd:root")))
        #expect(!state.matches(FileAttributes(mode: 0o600)))
    }

    func context(_ mode: WorkflowMode, base: String, systemd: SystemdDouble, trips: RoundTrips, hosts: [String] = ["h1"]) -> WorkflowContext {
        WorkflowContext(mode: mode, connector: CountingConnector(base: base, systemd: systemd, trips: trips),
                        endpoints: Fixture.endpoints(hosts), output: CollectingOutput(), now: fixedNow)
    }

    func units() -> [ManagedUnit] {
        ["a", "b", "c"].map { name in
            ManagedUnit(unit: "\(name).service", unitFile: ManagedFile(path: "/etc/systemd/system/\(name).service", text: "[Service]\nExecStart=/bin/\(name)\n"),
                        inputs: [ManagedFile(path: "/etc/\(name)/config", text: "\(name)=1\n", attributes: FileAttributes(mode: 0o600))])
        }
    }

    @Test("three new units: systemd reads them without a daemon-reload, one enable, a start each; the no-op re-run is one command and no read; a changed unit file is one daemon-reload")
    func unitsTogether() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let trips = RoundTrips()

        let plan = context(.plan, base: base, systemd: systemd, trips: trips)
        let planned = try await plan.ensureUnits("h1", units())
        #expect(planned.allSatisfy { $0.unitFileChanged && $0.inputsChanged && !$0.daemonReloaded && $0.enabled && $0.started })
        let planDescriptions = await plan.actions.map(\.description)
        #expect(Array(planDescriptions.suffix(5)) == ["systemd loads the new a.service, b.service, c.service (systemctl daemon-reload unless it read them by itself)",
                                                     "systemctl enable a.service b.service c.service",
                                                     "systemctl start a.service", "systemctl start b.service", "systemctl start c.service"])
        #expect(await systemd.log.isEmpty, "plan acted")

        let apply = context(.apply, base: base, systemd: systemd, trips: trips)
        _ = try await apply.ensureUnits("h1", units())
        #expect(await apply.actions.map(\.description) == planDescriptions, "apply did other than its plan")
        #expect(await systemd.log == ["h1: systemctl enable a.service b.service c.service",
                                      "h1: systemctl start a.service", "h1: systemctl start b.service", "h1: systemctl start c.service"])
        let mode = try FileManager.default.attributesOfItem(atPath: base + "/h1/etc/b/config")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)

        trips.reset()
        let again = context(.apply, base: base, systemd: systemd, trips: trips)
        let changes = try await again.ensureUnits("h1", units())
        #expect(changes.allSatisfy { !$0.changed })
        #expect(await again.actions.isEmpty)
        #expect(trips.commands("h1").count == 1, "\(trips.commands("h1"))")
        #expect(trips.reads("h1") == 0)

        // One input edited by hand: exactly that file with its diff, and a restart of its unit only.
        try "b=2\n".write(toFile: base + "/h1/etc/b/config", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: base + "/h1/etc/b/config")
        let drift = context(.plan, base: base, systemd: systemd, trips: trips)
        _ = try await drift.ensureUnits("h1", units())
        let driftActions = await drift.actions
        #expect(driftActions.map(\.description) == ["update /etc/b/config", "systemctl restart b.service (its files changed)"])
        #expect(driftActions.first?.diff?.contains("-b=2\n+b=1\n") == true)

        // A unit file systemd has read, edited by hand: one daemon-reload, then the restart.
        try "[Service]\nExecStart=/bin/b --old\n".write(toFile: base + "/h1/etc/systemd/system/b.service", atomically: true, encoding: .utf8)
        let edited = context(.apply, base: base, systemd: systemd, trips: trips)
        let reloaded = try await edited.ensureUnits("h1", units())
        #expect(reloaded.map(\.daemonReloaded) == [false, true, false])
        #expect(await edited.actions.map(\.description) == ["update /etc/systemd/system/b.service", "update /etc/b/config",
                                                            "systemctl daemon-reload (b.service changed)", "systemctl restart b.service (its files changed)"])
        #expect(Array(await systemd.log.suffix(2)) == ["h1: systemctl daemon-reload", "h1: systemctl restart b.service"])
    }

    @Test("new unit files systemd has not read by itself (it found them missing before they were written) get one daemon-reload")
    func newUnitsNotRead() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        await systemd.setReadsNewFilesByItself(false)
        let apply = context(.apply, base: base, systemd: systemd, trips: RoundTrips())
        let changes = try await apply.ensureUnits("h1", units())
        #expect(changes.allSatisfy { $0.enabled && $0.started })
        #expect(await systemd.log == ["h1: systemctl daemon-reload", "h1: systemctl enable a.service b.service c.service",
                                      "h1: systemctl start a.service", "h1: systemctl start b.service", "h1: systemctl start c.service"])
    }

    @Test("a file with the right content but a loosened mode is set back, and plan says so")
    func modeDrift() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let trips = RoundTrips()
        let key = ManagedFile(path: "/etc/kubernetes/pki/sa.key", text: "secret\n", attributes: FileAttributes(mode: 0o600), secret: true)
        try Fixture.write("secret\n", to: base + "/h1/etc/kubernetes/pki/sa.key", mode: 0o644)

        let plan = context(.plan, base: base, systemd: systemd, trips: trips)
        #expect(try await plan.ensureFile("h1", key))
        let action = try #require(await plan.actions.first)
        #expect(action.description.hasPrefix("set /etc/kubernetes/pki/sa.key to mode 600 "), "\(action.description)")
        #expect(action.description.contains("(was mode 644 "), "\(action.description)")

        let apply = context(.apply, base: base, systemd: systemd, trips: trips)
        #expect(try await apply.ensureFile("h1", key))
        let mode = try FileManager.default.attributesOfItem(atPath: base + "/h1/etc/kubernetes/pki/sa.key")[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(try await context(.apply, base: base, systemd: systemd, trips: trips).ensureFile("h1", key) == false)
    }

    @Test("a change made outside ensureFile makes the host's survey stale: the file is read again and set back")
    func staleAfterChange() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let systemd = SystemdDouble()
        let trips = RoundTrips()
        let file = ManagedFile(path: "/etc/x.conf", text: "x=1\n")
        try Fixture.write("x=1\n", to: base + "/h1/etc/x.conf")
        let ctx = context(.apply, base: base, systemd: systemd, trips: trips)
        try await ctx.survey("h1", files: [file.path])
        #expect(try await ctx.ensureFile("h1", file) == false)
        try await ctx.change("h1", "an operator step that rewrites /etc/x.conf") { c in
            try await c.write(Data("x=0\n".utf8), to: "/etc/x.conf", attributes: FileAttributes())
        }
        #expect(try await ctx.ensureFile("h1", file))
        #expect(FileManager.default.contents(atPath: base + "/h1/etc/x.conf") == Data("x=1\n".utf8))
    }

    @Test("the probe reads files, directories and command output of a host in one command")
    func probe() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Fixture.write("a\nb", to: base + "/h1/proc/one")
        try Fixture.write("", to: base + "/h1/proc/empty")
        try FileManager.default.createDirectory(atPath: base + "/h1/sys/module/overlay", withIntermediateDirectories: true)
        let trips = RoundTrips()
        let connection = CountingConnection(inner: SystemdDoubleConnection(local: RootedHost(hostName: "h1", root: base + "/h1"), systemd: SystemdDouble()), trips: trips)
        let probe = try await HostProbe.run(on: connection, paths: ["/proc/one", "/proc/empty", "/sys/module/overlay", "/proc/none"],
                                            commands: [("echo", ShellCommand("echo", "hello"))])
        #expect(probe.text("/proc/one") == "a\nb")
        #expect(probe.text("/proc/empty") == "")
        #expect(probe.isDirectory("/sys/module/overlay"))
        #expect(probe.paths["/proc/none"] == .absent && probe.text("/proc/none") == nil)
        #expect(probe.outputs["echo"] == "hello\n")
        #expect(trips.commands("h1").count == 1)
    }

    /// Three phases on two hosts, each comparing its own file and reading /proc-like state through `probe`;
    /// the last one's survey can declare its reads only once `prepare` has run (as `node-kubelet`'s waits
    /// for `kubernetes-artifacts`).
    func threePhases(ready: Ready) -> Workflow {
        let hosts = ["h1", "h2"]
        let file: @Sendable (String) -> ManagedFile = { name in ManagedFile(path: "/etc/\(name)", text: "\(name)=1\n") }
        let a = Phase("a", hosts: hosts) { ctx, host in
            try await ctx.ensureFile(host, file("a"))
        }.surveying { ctx, host in try await ctx.survey(host, files: ["/etc/a"]) }
        let prepare = Phase("prepare", concerning: hosts) { _ in await ready.set() }
        let b = Phase("b", hosts: hosts) { ctx, host in
            _ = try await ctx.probe(host, paths: ["/proc/b"], commands: [("echo", ShellCommand("echo", "b"))])
            try await ctx.ensureFile(host, file("b"))
        }.surveying { ctx, host in
            try await ctx.survey(host, files: ["/etc/b"])
            _ = try await ctx.probe(host, paths: ["/proc/b"], commands: [("echo", ShellCommand("echo", "b"))])
        }
        let c = Phase("c", hosts: hosts) { ctx, host in
            try await ctx.ensureFile(host, file("c"))
        }.surveying { ctx, host in
            guard await ready.value else { throw WorkflowError.internalInvariant("c is built by a") }
            try await ctx.survey(host, files: ["/etc/c"])
        }
        return Workflow(name: "three", phases: [a, prepare, b, c])
    }

    actor Ready {
        var value = false
        func set() { value = true }
    }

    @Test("a host where nothing changes answers one read for the whole run; a change there makes the later phases read it again")
    func oneReadPerRun() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        for host in ["h1", "h2"] {
            try FileManager.default.createDirectory(atPath: base + "/\(host)/proc", withIntermediateDirectories: true)
            try "1\n".write(toFile: base + "/\(host)/proc/b", atomically: true, encoding: .utf8)
        }
        let systemd = SystemdDouble()
        let trips = RoundTrips()
        let first = context(.apply, base: base, systemd: systemd, trips: trips, hosts: ["h1", "h2"])
        _ = try await PhaseRunner().run(threePhases(ready: Ready()), in: first)
        #expect(await first.actions.count == 6)

        // Converged: phase a's read also reads b's (c cannot say yet), c's is read when c starts.
        trips.reset()
        let again = context(.apply, base: base, systemd: systemd, trips: trips, hosts: ["h1", "h2"])
        let report = try await PhaseRunner().run(threePhases(ready: Ready()), in: again)
        #expect(report.actions.isEmpty)
        for host in ["h1", "h2"] {
            let commands = trips.commands(host)
            #expect(commands.count == 2, "\(host): \(commands)")
            #expect(commands.first.map { $0.contains("/etc/a") && $0.contains("/etc/b") && $0.contains("/proc/b") && $0.contains("echo b") } == true)
            #expect(commands.first?.contains("/etc/c") == false)
            #expect(commands.last.map { $0.contains("/etc/c") && !$0.contains("/etc/a") } == true)
        }

        // h1's file a edited by hand: phase a rewrites it, so what b and c compare on h1 is read afresh
        // (the write could have changed anything there); h2 still answers once for a and b.
        try "a=2\n".write(toFile: base + "/h1/etc/a", atomically: true, encoding: .utf8)
        try "b=2\n".write(toFile: base + "/h1/etc/b", atomically: true, encoding: .utf8)
        trips.reset()
        let drift = context(.apply, base: base, systemd: systemd, trips: trips, hosts: ["h1", "h2"])
        let fixed = try await PhaseRunner().run(threePhases(ready: Ready()), in: drift)
        #expect(fixed.actions.map(\.description) == ["update /etc/a", "update /etc/b"])
        #expect(fixed.actions.allSatisfy { $0.host == "h1" })
        #expect(try String(contentsOfFile: base + "/h1/etc/b", encoding: .utf8) == "b=1\n")
        #expect(trips.commands("h2").count == 2, "\(trips.commands("h2"))")
        let h1 = trips.commands("h1")
        #expect(h1.filter { $0.contains("#capstan-stat") && $0.contains("/etc/b") }.count == 2, "b's file read again after a's change: \(h1)")
        // That second read is one command for all b compares and what c declares by then.
        #expect(h1.filter { $0.contains("/etc/b") && $0.contains("/proc/b") && $0.contains("/etc/c") }.count == 1, "\(h1)")
    }

    @Test("a probe keeps files and command outputs for its caller's keys, with when they were read")
    func probeAnswers() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileManager.default.createDirectory(atPath: base + "/h1/proc/sys", withIntermediateDirectories: true)
        try "1\n".write(toFile: base + "/h1/proc/sys/forward", atomically: true, encoding: .utf8)
        let trips = RoundTrips()
        let ctx = context(.plan, base: base, systemd: SystemdDouble(), trips: trips)
        let probe = try await ctx.probe("h1", paths: ["/proc/sys/forward", "/proc/none", "/proc/sys"], commands: [("who", ShellCommand("echo", "capstan"))])
        #expect(probe.text("/proc/sys/forward") == "1\n")
        #expect(probe.paths["/proc/none"] == .absent)
        #expect(probe.isDirectory("/proc/sys"))
        #expect(probe.outputs["who"] == "capstan\n")
        #expect(probe.read != nil)
        // Asked again under another key: answered from what was read.
        let again = try await ctx.probe("h1", paths: ["/proc/sys/forward"], commands: [("name", ShellCommand("echo", "capstan"))])
        #expect(again.outputs["name"] == "capstan\n")
        #expect(trips.commands("h1").count == 1)
    }
}
