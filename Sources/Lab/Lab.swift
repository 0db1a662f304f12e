import Foundation

/// A lab: throwaway hosts on this machine, each a `systemd-nspawn -b` container with systemd as
/// PID 1, its own network namespace and sshd, on an overlay of one cached Debian base image.
/// Used by `capstan lab` and by integration tests. All operations need root; see `LabLayout` for
/// where state lives and how the hosts are reached.
public struct Lab: Sendable {
    public let layout: LabLayout

    public var name: String { layout.name }
    public var inventoryPath: String { layout.inventoryPath }

    /// Opens lab `name` (existing or not). A lab other than `default` keeps the subnet index it
    /// recorded, or takes the lowest one no other lab has recorded.
    public init(name: String = LabLayout.defaultName) throws {
        try LabLayout.validate(name: name)
        if let record = Lab.readRecord(LabLayout.stateRoot + "/" + name + "/lab.json") {
            layout = LabLayout(name: name, subnetIndex: record.subnetIndex)
        } else if name == LabLayout.defaultName {
            layout = LabLayout(name: name, subnetIndex: 0)
        } else {
            let fm = FileManager.default
            let used = Set(((try? fm.contentsOfDirectory(atPath: LabLayout.stateRoot)) ?? []).compactMap {
                Lab.readRecord(LabLayout.stateRoot + "/" + $0 + "/lab.json")?.subnetIndex
            })
            guard let free = (1...254).first(where: { !used.contains($0) }) else {
                throw LabError("no free lab subnet in 10.213.1-254.0/24: remove a lab with `capstan lab down --name …`")
            }
            layout = LabLayout(name: name, subnetIndex: free)
        }
    }

    /// The name of another lab whose record holds `subnetIndex`, if any.
    static func otherLab(using subnetIndex: Int, besides name: String) throws -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: LabLayout.stateRoot)) ?? []
        return names.sorted().first { $0 != name && readRecord(LabLayout.stateRoot + "/" + $0 + "/lab.json")?.subnetIndex == subnetIndex }
    }

    static func readRecord(_ path: String) -> LabRecord? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(LabRecord.self, from: data)
    }

    public var record: LabRecord? { Lab.readRecord(layout.stateFile) }

    /// Creates and boots `hosts` hosts (reusing the ones already running), writes the client key,
    /// known_hosts, backup key and inventory, and returns the lab's status.
    @discardableResult
    public func up(hosts count: Int = 3, progress: LabProgress = .silent) throws -> LabStatus {
        guard (1...LabLayout.maxHosts).contains(count) else {
            throw LabError("a lab has 1 to \(LabLayout.maxHosts) hosts, not \(count)")
        }
        try LabPrerequisites.check()
        LabPrerequisites.ensureInotifyInstances(progress: progress)
        let fm = FileManager.default
        try fm.createDirectory(atPath: layout.hostsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return try withFileLock(layout.directory + "/.lock") {
            if let existing = record, existing.hosts.count != count {
                throw LabError("lab \(name) already has \(existing.hosts.count) hosts; run `capstan lab down --name \(name)` first to make one with \(count)")
            }
            let base = try record.map { BaseImage(recipeHash: $0.baseImage) } ?? BaseImage.current()
            try fm.createDirectory(atPath: LabLayout.cacheRoot, withIntermediateDirectories: true)
            try withFileLock(LabLayout.cacheRoot + "/.lock") {
                try base.ensure(progress: progress)
                try LabArtifacts.ensure(progress: progress)
            }
            let hosts = (1...count).map { n in
                LabRecord.Host(name: layout.hostName(n), address: layout.hostAddress(n), roles: LabInventory.roles(host: n, of: count))
            }
            // The subnet was picked when this Lab was opened; another new lab opened at the same moment may
            // have picked it too. Whoever records it first keeps it; the other stops here with what to do.
            try withFileLock(LabLayout.stateRoot + "/.subnets.lock") {
                if record == nil, let other = try Self.otherLab(using: layout.subnetIndex, besides: name) {
                    throw LabError("lab \(other) took subnet \(layout.subnetPrefix).0/24 while lab \(name) was being set up; run `capstan lab up --name \(name)` again (it picks the next free subnet)")
                }
                try writeJSON(LabRecord(name: name, subnetIndex: layout.subnetIndex, baseImage: base.recipeHash, hosts: hosts), to: layout.stateFile)
            }
            try ensureClientFiles()
            progress.step("setting up the lab network \(layout.subnetPrefix).0/24 (machine side \(layout.machineAddress) on \(layout.machineInterface))")
            try ensureNetwork()
            progress.step("creating \(count) host\(count == 1 ? "" : "s")")
            let createFailures = inParallel(hosts) { host in try self.create(host, base: base, all: hosts) }
            try Lab.throwFirst(createFailures, doing: "creating")
            try writeKnownHosts(hosts)
            let toBoot = hosts.filter { !isRunning($0.name) }
            if !toBoot.isEmpty {
                progress.step("booting \(toBoot.map(\.name).joined(separator: ", "))")
            }
            let bootFailures = inParallel(hosts) { host in
                if !self.isRunning(host.name) { try self.boot(host.name) }
                try self.waitUntilReady(host)
            }
            try Lab.throwFirst(bootFailures, doing: "booting")
            try write(LabInventory.text(layout: layout, hostCount: count), to: layout.inventoryPath, mode: 0o644)
            progress.step("lab \(name) is up: \(count) host\(count == 1 ? "" : "s") running systemd and sshd")
            return status()
        }
    }

    static func throwFirst<T>(_ failures: [(T, any Error)], doing what: String) throws {
        guard !failures.isEmpty else { return }
        let text = failures.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        throw LabError("\(what) lab hosts failed:\n\(text)")
    }

    /// The client key, the backup encryption key: made once per lab and kept across `up` runs.
    private func ensureClientFiles() throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: layout.identityFile) {
            try LocalProcess.check(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "capstan-lab-\(name)", "-f", layout.identityFile],
                                   context: "generating the lab's SSH key")
        }
        if !fm.fileExists(atPath: layout.backupKeyFile) {
            guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else { throw LabError("cannot open /dev/urandom") }
            let key = random.readData(ofLength: 32)
            try random.close()
            guard key.count == 32 else { throw LabError("short read from /dev/urandom") }
            try write(key, to: layout.backupKeyFile, mode: 0o600)
        }
    }

    /// `address key` lines with each host's ed25519 host key, for strict host-key checking.
    private func writeKnownHosts(_ hosts: [LabRecord.Host]) throws {
        var lines = ""
        for host in hosts {
            let path = layout.hostRoot(host.name) + "/etc/ssh/ssh_host_ed25519_key.pub"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw LabError("host \(host.name) has no SSH host key at \(path): run `capstan lab down --name \(name)` and up again")
            }
            let fields = text.split(separator: " ")
            guard fields.count >= 2 else { throw LabError("unreadable host key \(path)") }
            lines += "\(host.address) \(fields[0]) \(fields[1])\n"
        }
        try write(lines, to: layout.knownHostsFile, mode: 0o644)
    }

    func write(_ text: String, to path: String, mode: Int) throws {
        try write(Data(text.utf8), to: path, mode: mode)
    }

    /// Atomic write (temporary file + rename) with `mode` set before the rename.
    func write(_ data: Data, to path: String, mode: Int) throws {
        let temp = path + ".tmp"
        guard FileManager.default.createFile(atPath: temp, contents: data, attributes: [.posixPermissions: mode]) else {
            throw LabError("cannot write \(temp)")
        }
        chmod(temp, mode_t(mode))
        guard rename(temp, path) == 0 else { throw LabError("cannot rename \(temp) to \(path): \(String(cString: strerror(errno)))") }
    }

    private func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(try encoder.encode(value), to: path, mode: 0o644)
    }
}
