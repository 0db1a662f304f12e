import Foundation

/// What `capstan lab status` shows and `--output json` prints.
public struct LabStatus: Codable, Sendable, Equatable {
    public struct Host: Codable, Sendable, Equatable {
        public var name: String
        public var address: String
        public var state: LabHostState
        public var roles: [String]
    }

    public var name: String
    public var exists: Bool
    public var network: String
    public var inventory: String?
    /// `inventory-k8s.yaml` beside the inventory, when `scripts/lab-demo.sh` wrote it (Kubernetes stand-ins added).
    public var kubernetesInventory: String?
    public var hosts: [Host]
}

extension Lab {
    public func status() -> LabStatus {
        let hosts = hosts.map { LabStatus.Host(name: $0.name, address: $0.address, state: state($0.name), roles: $0.roles) }
        let inventory = FileManager.default.fileExists(atPath: layout.inventoryPath) ? layout.inventoryPath : nil
        let k8s = (layout.inventoryPath as NSString).deletingLastPathComponent + "/inventory-k8s.yaml"
        return LabStatus(name: name, exists: record != nil, network: "\(layout.subnetPrefix).0/24", inventory: inventory,
                         kubernetesInventory: FileManager.default.fileExists(atPath: k8s) ? k8s : nil, hosts: hosts)
    }
}

extension Lab {
    /// Removes everything the lab made — processes, cgroups, mounts, namespaces, veths, files —
    /// found from the lab's name, not only from its record, so it also cleans up after a crash.
    public func down(progress: LabProgress = .silent) throws {
        guard geteuid() == 0 else { throw LabError("capstan lab down needs root: run it with sudo") }
        let fm = FileManager.default
        var names = Set(record?.hosts.map(\.name) ?? [])
        names.formUnion((try? fm.contentsOfDirectory(atPath: layout.hostsDirectory)) ?? [])
        for root in SystemFacts.cgroupRoots() {
            names.formUnion((try? fm.contentsOfDirectory(atPath: "\(root)/\(layout.cgroupPath)"))?.filter {
                var isDir: ObjCBool = false
                return fm.fileExists(atPath: "\(root)/\(layout.cgroupPath)/\($0)", isDirectory: &isDir) && isDir.boolValue
            } ?? [])
        }
        let hosts = names.sorted()
        if !hosts.isEmpty { progress.step("stopping \(hosts.joined(separator: ", "))") }
        let failures = inParallel(hosts) { host in try self.powerOff(host) }
        try Lab.throwFirst(failures, doing: "stopping")

        var problems: [String] = []
        for mount in SystemFacts.mounts(under: layout.directory) {
            let out = try LocalProcess.run(["umount", mount])
            if !out.succeeded, !(try LocalProcess.run(["umount", "-l", mount])).succeeded {
                problems.append("cannot unmount \(mount): \(out.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
        }
        let namespaces = (try? fm.contentsOfDirectory(atPath: "/run/netns")) ?? []
        for ns in namespaces where ns.hasPrefix(layout.labNamespace + ".") || ns == layout.labNamespace {
            let out = try LocalProcess.run(["ip", "netns", "del", ns])
            if !out.succeeded { problems.append("cannot delete network namespace \(ns): \(out.stderr)") }
        }
        if try LocalProcess.run(["ip", "link", "show", layout.machineInterface]).succeeded {
            _ = try LocalProcess.run(["ip", "link", "del", layout.machineInterface])
        }
        for root in SystemFacts.cgroupRoots() {
            SystemFacts.removeCgroupTree("\(root)/\(layout.cgroupPath)")
            rmdir("\(root)/capstan-lab")
        }
        if !problems.isEmpty {
            throw LabError("lab \(name) is not fully removed:\n" + problems.joined(separator: "\n") + "\nrun `capstan lab down --name \(name)` again")
        }
        if fm.fileExists(atPath: layout.directory) {
            guard SystemFacts.mounts(under: layout.directory).isEmpty else {
                throw LabError("\(layout.directory) still has mounts; not removing its files")
            }
            try LocalProcess.check(["rm", "-rf", "--one-file-system", layout.directory], context: "removing \(layout.directory)")
        }
        progress.step("lab \(name) is down")
    }

    /// What a lab still holds on the machine (for checking that `down` removed everything).
    public func leftovers() -> [String] {
        var found: [String] = []
        found += SystemFacts.mounts(under: layout.directory).map { "mount \($0)" }
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        found += namespaces.filter { $0 == layout.labNamespace || $0.hasPrefix(layout.labNamespace + ".") }.map { "netns \($0)" }
        if (try? LocalProcess.run(["ip", "link", "show", layout.machineInterface]))?.succeeded == true {
            found.append("interface \(layout.machineInterface)")
        }
        for root in SystemFacts.cgroupRoots() where SystemFacts.exists("\(root)/\(layout.cgroupPath)") {
            found.append("cgroup \(root)/\(layout.cgroupPath)")
        }
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for p in procs {
            guard let pid = Int32(p) else { continue }
            let cmd = SystemFacts.commandLine(pid)
            if cmd.contains("systemd-nspawn"), cmd.contains(layout.hostsDirectory + "/") { found.append("process \(pid): \(cmd)") }
        }
        if SystemFacts.exists(layout.directory) { found.append("directory \(layout.directory)") }
        return found
    }
}
