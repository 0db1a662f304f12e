import Foundation
import Testing
import TestSupport
@testable import Lab
import Hosts
import SSH

/// Real hosts on this machine: needs root, systemd-nspawn and debootstrap (scripts/prereqs.sh).
/// One lab for the whole suite; the last test takes it down, and an exit hook does so if a test
/// failed before that.
@Suite("Lab lifecycle on real systemd-nspawn hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct LabLifecycleTests {
    static let labName = "labtests"

    func lab() throws -> Lab {
        try Lab.shared(hosts: 3, name: Self.labName, progress: LabProgress { print("lab: \($0)") })
    }

    /// Logs in with Capstan's own SSH module as the inventory says (lab key, lab known_hosts, strict
    /// host-key checking) and runs the shell command line `command`. A connection failure is a failed result.
    func overSSH(_ lab: Lab, _ host: LabHost, _ command: String) async -> LocalProcess.Output {
        do {
            let connection = try await LibSSH2Connector().connect(lab.endpoint(for: host))
            let r: CommandResult
            do {
                r = try await connection.run(ShellCommand(["sh", "-c", command]))
            } catch {
                await connection.close()
                throw error
            }
            await connection.close()
            return LocalProcess.Output(status: r.exitStatus, stdout: r.stdoutText, stderr: r.stderrText)
        } catch {
            return LocalProcess.Output(status: 255, stdout: "", stderr: "\(error)")
        }
    }

    @Test("a 3-host lab comes up with every host running and the inventory written")
    func comesUp() throws {
        let lab = try lab()
        let status = lab.status()
        #expect(status.hosts.map(\.name) == ["h1", "h2", "h3"])
        #expect(status.hosts.map(\.address) == ["10.213.\(lab.layout.subnetIndex).11", "10.213.\(lab.layout.subnetIndex).12", "10.213.\(lab.layout.subnetIndex).13"])
        #expect(status.hosts.allSatisfy { $0.state == .running })
        let inventory = try String(contentsOfFile: try #require(status.inventory), encoding: .utf8)
        #expect(inventory == LabInventory.text(layout: lab.layout, hostCount: 3))
        let knownHosts = try String(contentsOfFile: lab.layout.knownHostsFile, encoding: .utf8)
        #expect(knownHosts.split(separator: "\n").count == 3)
        let backupKey = try FileManager.default.attributesOfItem(atPath: lab.layout.backupKeyFile)
        #expect((backupKey[.size] as? Int) == 32)
        #expect((backupKey[.posixPermissions] as? Int) == 0o600)
    }

    @Test("every host answers SSH under strict host-key checking and reports systemd `running`")
    func sshAndSystemd() async throws {
        let lab = try lab()
        for host in lab.hosts {
            let out = await overSSH(lab, host, "hostname; systemctl is-system-running; ip -4 route")
            #expect(out.succeeded, "ssh to \(host.name) failed: \(out.stderr)")
            let lines = out.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == host.name)
            #expect(lines.dropFirst().first == "running")
            #expect(!out.stdout.contains("default"), "\(host.name) must have no default route: \(out.stdout)")
        }
    }

    @Test("an unknown host key is refused: the lab's known_hosts is what makes SSH work")
    func strictHostKeys() throws {
        let lab = try lab()
        let host = try #require(lab.hosts.first)
        var args = lab.sshArguments(host.address, command: ["true"], batch: true)
        let index = try #require(args.firstIndex(of: "UserKnownHostsFile=" + lab.layout.knownHostsFile))
        args[index] = "UserKnownHostsFile=/dev/null"
        let out = try LocalProcess.run(args)
        #expect(!out.succeeded)
        #expect(out.stderr.contains("Host key verification failed"))
    }

    @Test("commands run inside a host through its namespaces, without SSH")
    func runInside() throws {
        let lab = try lab()
        let out = try lab.run(in: "h2", ["cat", "/etc/hostname"])
        #expect(out.succeeded)
        #expect(out.stdout == "h2\n")
        let host = try lab.host(named: "h2")
        #expect(FileManager.default.fileExists(atPath: host.machinePath + "/etc/systemd/network/10-eth0.network"))
    }

    @Test("a host stopped and started comes back with the same identity and answers SSH again")
    func stopAndStart() async throws {
        let lab = try lab()
        let host = try lab.host(named: "h2")
        let wrote = try lab.run(in: "h2", ["sh", "-c", "echo kept > /root/marker && sync"])
        #expect(wrote.succeeded, "writing the marker: \(wrote.stderr)")
        try lab.stop(host: "h2")
        #expect(lab.state("h2") == .stopped)
        #expect(!(await overSSH(lab, host, "true")).succeeded)
        #expect(lab.status().hosts.filter { $0.state == .running }.map(\.name) == ["h1", "h3"])
        let started = Date()
        try lab.start(host: "h2")
        #expect(Date().timeIntervalSince(started) < 30)
        let out = await overSSH(lab, host, "cat /root/marker; systemctl is-system-running")
        #expect(out.stdout == "kept\nrunning\n")
    }

    @Test("up again reuses the running hosts")
    func idempotentUp() throws {
        let lab = try lab()
        let before = lab.hosts.map { lab.leaderPID($0.name) }
        try lab.up(hosts: 3)
        #expect(lab.hosts.map { lab.leaderPID($0.name) } == before)
        #expect(throws: LabError.self) { try lab.up(hosts: 4) }
    }

    @Test("two new labs opened at the same moment pick the same subnet: the first to record it keeps it, the second stops with what to do and gets the next subnet on a re-run")
    func subnetRace() throws {
        let first = try Lab(name: "racea")
        let second = try Lab(name: "raceb")
        defer { _ = try? first.down(); _ = try? Lab(name: "raceb").down() }
        #expect(first.layout.subnetIndex == second.layout.subnetIndex)
        try first.up(hosts: 1)
        do {
            try second.up(hosts: 1)
            Issue.record("the second lab came up on the first one's subnet")
        } catch {
            #expect("\(error)".contains("lab racea took subnet") && "\(error)".contains("capstan lab up --name raceb"), "\(error)")
        }
        let again = try Lab(name: "raceb")
        #expect(again.layout.subnetIndex != first.layout.subnetIndex)
        try again.up(hosts: 1)
        #expect(again.record?.hosts.count == 1)
    }

    @Test("the artifact directory holds etcd 3.4/3.5, containerd and runc whose checksums verify with sha256sum -c")
    func artifacts() throws {
        _ = try lab()
        let dir = LabLayout.artifactDirectory
        let files = try #require(LabArtifacts.recordedFiles(in: dir))
        let sums = files.filter { $0.hasSuffix("SHA256SUMS") || $0.hasSuffix(".sha256sum") }
        #expect(sums.count == 4)
        for sum in sums {
            let sub = (dir + "/" + sum as NSString).deletingLastPathComponent
            let out = try LocalProcess.run(["sha256sum", "-c", (sum as NSString).lastPathComponent], currentDirectory: sub)
            #expect(out.succeeded, "\(sum): \(out.stdout)\(out.stderr)")
        }
        #expect(files.contains("etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz"))
        #expect(files.contains("etcd/v3.5.1/etcd-v3.5.1-linux-amd64.tar.gz"))
        let listing = try LocalProcess.check(["tar", "-tzf", dir + "/etcd/v3.5.1/etcd-v3.5.1-linux-amd64.tar.gz"], context: "listing")
        #expect(Set(listing.split(separator: "\n")).isSuperset(of: ["etcd-v3.5.1-linux-amd64/etcd", "etcd-v3.5.1-linux-amd64/etcdctl", "etcd-v3.5.1-linux-amd64/etcdutl"]))
        let version = try LocalProcess.check(["sh", "-c", "tar -xzOf \"$1\" etcd-v3.4.23-linux-amd64/etcd > \"$2\" && chmod +x \"$2\" && \"$2\" --version", "sh",
                                              dir + "/etcd/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz", NSTemporaryDirectory() + "etcd-3.4-check"],
                                             context: "running etcd 3.4 from the artifact")
        #expect(version.contains("3.4.23"))
    }

    @Test("down removes every mount, namespace, interface, cgroup, process and file of the lab")
    func downLeavesNothing() throws {
        let lab = try lab()
        #expect(!lab.leftovers().isEmpty)
        try Lab.tearDownShared(name: Self.labName)
        #expect(lab.leftovers() == [])
        #expect(lab.status().exists == false)
        try lab.down()
    }
}
