import Foundation

/// A lab host as tests see it.
public struct LabHost: Sendable, Equatable, Hashable {
    public var name: String
    public var address: String
    public var roles: [String]
    /// The host's root filesystem as mounted on the machine (its overlay); files written here
    /// appear inside the host.
    public var machinePath: String
}

/// One host's state: `running` (systemd booted in its container), `stopped` (disk kept, powered off).
public enum LabHostState: String, Sendable, Codable {
    case running, stopped
}

extension Lab {
    public var hosts: [LabHost] {
        (record?.hosts ?? []).map {
            LabHost(name: $0.name, address: $0.address, roles: $0.roles, machinePath: layout.hostRoot($0.name))
        }
    }

    public func host(named name: String) throws -> LabHost {
        guard let host = hosts.first(where: { $0.name == name }) else {
            let known = hosts.map(\.name)
            throw LabError("lab \(self.name) has no host \(name)" + (known.isEmpty ? " (the lab is not up: capstan lab up)" : "; hosts: \(known.joined(separator: ", "))"))
        }
        return host
    }

    /// Overlay mount, identity (hostname, machine-id, SSH host key), authorized key, /etc/hosts,
    /// static address, and the namespace that holds its eth0. Identity is made once, on a fresh disk.
    func create(_ host: LabRecord.Host, base: BaseImage, all: [LabRecord.Host]) throws {
        let fm = FileManager.default
        let dir = layout.hostDirectory(host.name)
        let root = layout.hostRoot(host.name)
        for sub in ["upper", "work", "root"] { try fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        if !SystemFacts.isMountPoint(root) {
            try LocalProcess.check(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=\(base.rootfs),upperdir=\(dir)/upper,workdir=\(dir)/work", root],
                                   context: "mounting the overlay of \(host.name)")
        }
        if !fm.fileExists(atPath: root + "/etc/ssh/ssh_host_ed25519_key") {
            try write(host.name + "\n", to: root + "/etc/hostname", mode: 0o644)
            let machineID = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            try write(machineID + "\n", to: root + "/etc/machine-id", mode: 0o444)
            try LocalProcess.check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "root@\(host.name)", "-f", root + "/etc/ssh/ssh_host_ed25519_key"],
                                   context: "generating the SSH host key of \(host.name)")
            try fm.createDirectory(atPath: root + "/root/.ssh", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let pub = try String(contentsOfFile: layout.identityFile + ".pub", encoding: .utf8)
            try write(pub, to: root + "/root/.ssh/authorized_keys", mode: 0o600)
            var hostsFile = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
            for other in all { hostsFile += "\(other.address) \(other.name)\n" }
            try write(hostsFile, to: root + "/etc/hosts", mode: 0o644)
            try fm.createDirectory(atPath: root + "/etc/systemd/network", withIntermediateDirectories: true)
            // No Gateway: hosts reach each other and the machine on-link, and nothing else.
            // IPv6AcceptRA=no: nothing sends router advertisements here; waiting for one delays boot ~13 s.
            try write("[Match]\nName=eth0\n\n[Network]\nAddress=\(host.address)/24\nIPv6AcceptRA=no\n",
                      to: root + "/etc/systemd/network/10-eth0.network", mode: 0o644)
        }
        if !SystemFacts.exists("/run/netns/" + layout.hostNamespace(host.name)) {
            try ip(["netns", "add", layout.hostNamespace(host.name)], "creating the network namespace of \(host.name)")
        }
    }

    func pidFile(_ host: String) -> String { layout.hostDirectory(host) + "/nspawn.pid" }

    /// PID of the host's systemd-nspawn, when it runs.
    func nspawnPID(_ host: String) -> Int32? {
        guard let text = try? String(contentsOfFile: pidFile(host), encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              SystemFacts.isAlive(pid), SystemFacts.commandLine(pid).contains("systemd-nspawn") else { return nil }
        return pid
    }

    /// PID (on the machine) of the host's systemd, PID 1 inside the container.
    public func leaderPID(_ host: String) -> Int32? {
        guard let pid = nspawnPID(host) else { return nil }
        return SystemFacts.children(of: pid, named: "systemd").first
    }

    public func isRunning(_ host: String) -> Bool { leaderPID(host) != nil }

    public func state(_ host: String) -> LabHostState { isRunning(host) ? .running : .stopped }

    func cgroupDirectories(_ host: String) -> [String] {
        SystemFacts.cgroupRoots().map { "\($0)/\(layout.cgroupPath)/\(host)" }
    }

    /// Starts systemd-nspawn for `host` in the background and waits for its systemd to appear.
    ///
    /// Each host gets its own cgroup subtree (with `--keep-unit` nspawn uses the caller's cgroup, and
    /// hosts sharing one would manage each other's units), a fresh veth whose far end becomes its
    /// eth0, and runs in a private mount namespace with /sys read-only: nspawn then skips its check
    /// that udev initialised the interface (there is no udevd on such machines).
    func boot(_ host: String) throws {
        let dir = layout.hostDirectory(host)
        guard SystemFacts.isMountPoint(layout.hostRoot(host)) else { throw LabError("\(host) has no disk mounted: run capstan lab up") }
        let cgroups = cgroupDirectories(host)
        for cg in cgroups {
            SystemFacts.removeCgroupTree(cg)
            try FileManager.default.createDirectory(atPath: cg, withIntermediateDirectories: true)
        }
        let ns = layout.labNamespace
        let port = layout.bridgePort(host)
        _ = try? LocalProcess.run(["ip", "-n", ns, "link", "del", port])
        // A fixed MAC per host: after a restart the machine's ARP entry for the host stays right,
        // instead of sending to the old veth's address until the entry goes stale (5-10 s).
        try ip(["-n", ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "address", layout.hostMAC(host),
                "netns", layout.hostNamespace(host)],
               "creating the network interface of \(host)")
        try ip(["-n", ns, "link", "set", port, "master", "br0", "up"], "plugging \(host) into the lab bridge")
        try? FileManager.default.removeItem(atPath: pidFile(host))

        let nspawn = ["systemd-nspawn", "-q", "-D", layout.hostRoot(host), "-b", "-M", layout.machineName(host), "--hostname=\(host)",
                      "--register=no", "--keep-unit", "--private-network", "--network-interface=eth0"]
        var script = "#!/bin/sh\n# Written by capstan lab: boots \(host). Every step execs, so $$ stays systemd-nspawn's PID.\n"
        script += "exec >\(ShellQuote.quote(dir + "/console.log")) 2>&1 </dev/null\n"
        for cg in cgroups { script += "echo $$ > \(ShellQuote.quote(cg + "/cgroup.procs"))\n" }
        script += "echo $$ > \(ShellQuote.quote(pidFile(host)))\n"
        script += "exec unshare -m --propagation slave sh -c 'mount -o remount,bind,ro /sys && exec \"$@\"' sh "
        script += ShellQuote.line(["nsenter", "--net=/run/netns/" + layout.hostNamespace(host)] + nspawn) + "\n"
        let launcher = dir + "/launch.sh"
        try write(script, to: launcher, mode: 0o755)
        // Run through `sh` rather than exec'ing the fresh file: exec could fail with ETXTBSY while a
        // process spawned at that moment by another thread still holds the file open for writing.
        try LocalProcess.check(["setsid", "-f", "sh", launcher], context: "starting systemd-nspawn for \(host)")

        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if leaderPID(host) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let console = (try? String(contentsOfFile: dir + "/console.log", encoding: .utf8)) ?? ""
        throw LabError("systemd-nspawn could not boot \(host) on this machine (no systemd inside after 20 s). Console (\(dir)/console.log):\n"
            + console.split(separator: "\n").suffix(15).joined(separator: "\n"))
    }

    /// Waits until systemd inside reports `running` and sshd accepts the lab key under strict
    /// host-key checking.
    func waitUntilReady(_ host: LabRecord.Host, timeout: TimeInterval = 120) throws {
        let deadline = Date().addingTimeInterval(timeout)
        var state = ""
        while Date() < deadline {
            guard let leader = leaderPID(host.name) else {
                throw LabError("\(host.name) stopped while booting; console: \(layout.hostDirectory(host.name))/console.log")
            }
            let out = try LocalProcess.run(["timeout", "30", "nsenter", "-t", "\(leader)", "-a", "systemctl", "is-system-running", "--wait"])
            state = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if state == "running" { break }
            if state == "degraded" {
                let failed = try? LocalProcess.run(["nsenter", "-t", "\(leader)", "-a", "systemctl", "--failed", "--no-legend"])
                throw LabError("\(host.name) booted degraded; failed units:\n\(failed?.stdout ?? "?")")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        guard state == "running" else {
            throw LabError("\(host.name) did not finish booting within \(Int(timeout)) s (systemctl is-system-running: \(state.isEmpty ? "no answer" : state))")
        }
        var last = ""
        while Date() < deadline {
            let out = try LocalProcess.run(sshArguments(host.address, command: ["true"], batch: true))
            if out.succeeded { return }
            last = out.stderr
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw LabError("sshd on \(host.name) (\(host.address)) did not accept the lab key: \(last.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    /// The system OpenSSH client's arguments for a lab host: the lab key and known_hosts, strict checking.
    public func sshArguments(_ address: String, command: [String] = [], batch: Bool = false) -> [String] {
        var args = ["ssh", "-i", layout.identityFile, "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + layout.knownHostsFile,
                    "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]
        if batch { args += ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"] }
        return args + ["root@" + address] + command
    }

    /// Powers `host` off gracefully (SIGTERM to nspawn makes systemd shut down), keeping its disk.
    public func stop(host: String) throws {
        _ = try self.host(named: host)
        try powerOff(host)
    }

    func powerOff(_ host: String) throws {
        if let pid = nspawnPID(host) {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(30)
            while SystemFacts.isAlive(pid), Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if SystemFacts.isAlive(pid) { kill(pid, SIGKILL) }
        }
        // Anything left in the host's cgroups (after a crash, or a killed nspawn) goes too.
        for cg in cgroupDirectories(host) {
            for pid in SystemFacts.processes(inCgroup: cg) { kill(pid, SIGKILL) }
        }
        let deadline = Date().addingTimeInterval(10)
        while cgroupDirectories(host).contains(where: { !SystemFacts.processes(inCgroup: $0).isEmpty }), Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        for cg in cgroupDirectories(host) { SystemFacts.removeCgroupTree(cg) }
        _ = try? LocalProcess.run(["ip", "-n", layout.labNamespace, "link", "del", layout.bridgePort(host)])
        try? FileManager.default.removeItem(atPath: pidFile(host))
        try? FileManager.default.removeItem(atPath: "/run/systemd/nspawn/propagate/" + layout.machineName(host))
    }

    /// Boots a stopped host again with the same disk and identity, and waits until it is ready.
    public func start(host name: String) throws {
        let host = try self.host(named: name)
        guard let entry = record?.hosts.first(where: { $0.name == name }) else { throw LabError("lab \(self.name) has no host \(name)") }
        if !isRunning(host.name) { try boot(host.name) }
        try waitUntilReady(entry)
    }

    /// Runs a command inside `host` through its namespaces (no SSH): for checks and failure injection.
    @discardableResult
    public func run(in host: String, _ command: [String]) throws -> LocalProcess.Output {
        guard let leader = leaderPID(host) else { throw LabError("\(host) is not running (capstan lab start \(host))") }
        return try LocalProcess.run(["nsenter", "-t", "\(leader)", "-a"] + command)
    }
}
