import Foundation
import Hosts
import Inventory
import PKI
import TestSupport
@testable import Workflows

/// Test double for a host's systemd and its health endpoint: the commands `systemctl …` and `curl …` are
/// answered from recorded state (systemd cannot run as PID 1 inside the test process); everything else
/// runs through a `RootedHost` on the host's own directory tree.
actor SystemdDouble {
    var enabled: [String: Set<String>] = [:]
    var active: [String: Set<String>] = [:]
    /// `host: systemctl start kube-apiserver.service`, `host: curl …/livez`, in order.
    var log: [String] = []
    var unhealthy: Set<String> = []
    /// `host: systemctl show units…`: the state queries, one per survey.
    var queries: [String] = []

    /// The unit files systemd has read, by host and unit, as they were then: a unit is read on first use
    /// (as Debian bookworm's systemd 252 does for a file that appeared) and again by `daemon-reload`.
    var read: [String: [String: Data]] = [:]
    /// False: a unit once found missing stays missing until `daemon-reload`, as when systemd's unit cache did
    /// not see the new file (a systemd without that cache behaves so for every new file).
    var readsNewFilesByItself = true
    var missing: [String: Set<String>] = [:]

    func setReadsNewFilesByItself(_ value: Bool) { readsNewFilesByItself = value }

    func setUnhealthy(_ hosts: Set<String>) { unhealthy = hosts }

    /// `unitFiles`: the contents of the named units' files under /etc/systemd/system now (nil: no file).
    func handle(host: String, arguments: [String], unitFiles: [String: Data?] = [:]) -> CommandResult {
        guard let tool = arguments.first else { return CommandResult(exitStatus: 127) }
        if tool == "curl" {
            let url = arguments.last ?? ""
            log.append("\(host): curl \(url)")
            return unhealthy.contains(host) ? CommandResult(exitStatus: 7, stderr: Data("connection refused".utf8)) : CommandResult(exitStatus: 0, stdout: Data("ok".utf8))
        }
        let verb = arguments.dropFirst().first { !$0.hasPrefix("-") } ?? ""
        let units = Array(arguments.dropFirst().filter { !$0.hasPrefix("-") }.dropFirst())
        let unit = arguments.last ?? ""
        switch verb {
        case "is-enabled": return CommandResult(exitStatus: enabled[host, default: []].contains(unit) ? 0 : 1)
        case "is-active":
            let states = units.map { active[host, default: []].contains($0) ? "active" : "inactive" }
            return CommandResult(exitStatus: states.contains("active") ? 0 : 3, stdout: Data(states.map { $0 + "\n" }.joined().utf8))
        case "show":
            queries.append("\(host): systemctl show \(units.joined(separator: " "))")
            let blocks = units.map { unit in
                let file = enabled[host, default: []].contains(unit) ? "enabled" : "disabled"
                let state = active[host, default: []].contains(unit) ? "active" : "inactive"
                // A unit the test set up as enabled or running has a file it does not write out.
                let known = enabled[host, default: []].contains(unit) || active[host, default: []].contains(unit)
                let notFound = "Id=\(unit)\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nNeedDaemonReload=no\n"
                guard case let written?? = unitFiles[unit] else {
                    if known || unitFiles[unit] == nil { return "Id=\(unit)\nLoadState=loaded\nActiveState=\(state)\nSubState=\(state == "active" ? "running" : "dead")\nUnitFileState=\(file)\nNeedDaemonReload=no\n" }
                    missing[host, default: []].insert(unit)
                    return notFound
                }
                if !readsNewFilesByItself, missing[host]?.contains(unit) ?? false { return notFound }
                let loaded = read[host]?[unit] ?? written
                read[host, default: [:]][unit] = loaded
                return "Id=\(unit)\nLoadState=loaded\nActiveState=\(state)\nSubState=\(state == "active" ? "running" : "dead")\nUnitFileState=\(file)\nNeedDaemonReload=\(loaded == written ? "no" : "yes")\n"
            }
            return CommandResult(exitStatus: 0, stdout: Data(blocks.joined(separator: "\n").utf8))
        case "enable": enabled[host, default: []].formUnion(units)
        case "start", "restart": active[host, default: []].insert(unit)
        case "daemon-reload": read[host] = [:]; missing[host] = []
        default: return CommandResult(exitStatus: 1, stderr: Data("unknown systemctl verb \(verb)".utf8))
        }
        log.append("\(host): systemctl \(verb)\(verb == "daemon-reload" ? "" : " " + units.joined(separator: " "))")
        return CommandResult(exitStatus: 0)
    }
}

struct SystemdDoubleConnection: HostConnection {
    let local: RootedHost
    let systemd: SystemdDouble
    var hostName: String { local.hostName }

    /// The words of a command line built by `ShellCommand` (single-quoted words unquoted).
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        var any = false
        for ch in line {
            if ch == "'" { quoted.toggle(); any = true; continue }
            if ch == " " && !quoted {
                if any || !current.isEmpty { words.append(current) }
                current = ""
                any = false
                continue
            }
            current.append(ch)
        }
        if any || !current.isEmpty { words.append(current) }
        return words
    }

    func run(_ command: ShellCommand, options: RunOptions) async throws -> CommandResult {
        let words = Self.words(command.line)
        if let first = words.first, first == "systemctl" || first == "curl" {
            return await systemd.handle(host: hostName, arguments: words, unitFiles: try await unitFiles(words))
        }
        // A survey ends with `systemctl show …`: the part before it runs for real, the double answers the rest.
        if let show = command.line.range(of: "systemctl show ") {
            var result = try await local.run(ShellCommand("sh", "-c", String(command.line[..<show.lowerBound])), options: options)
            let showWords = Self.words(String(command.line[show.lowerBound...]))
            let answer = await systemd.handle(host: hostName, arguments: showWords, unitFiles: try await unitFiles(showWords))
            result.stdout.append(answer.stdout)
            result.exitStatus = answer.exitStatus
            return result
        }
        return try await local.run(command, options: options)
    }

    /// The files of the units a `systemctl show` names, as they are under the host's root now.
    private func unitFiles(_ words: [String]) async throws -> [String: Data?] {
        guard words.dropFirst().first(where: { !$0.hasPrefix("-") }) == "show" else { return [:] }
        var files: [String: Data?] = [:]
        for unit in words.dropFirst(2) where !unit.hasPrefix("-") {
            files[unit] = .some(try await local.read("/etc/systemd/system/\(unit)"))
        }
        return files
    }

    func stream(_ command: ShellCommand, options: RunOptions, onStdout: @Sendable (Data) async throws -> Void) async throws -> CommandResult {
        try await local.stream(command, options: options, onStdout: onStdout)
    }
    func write(_ data: Data, to path: String, attributes: FileAttributes) async throws { try await local.write(data, to: path, attributes: attributes) }
    func upload(localFile: String, to path: String, attributes: FileAttributes) async throws { try await local.upload(localFile: localFile, to: path, attributes: attributes) }
    func read(_ path: String) async throws -> Data? { try await local.read(path) }
    func download(_ path: String, toLocalFile localPath: String) async throws { try await local.download(path, toLocalFile: localPath) }
    func close() async {}
}

struct SystemdDoubleConnector: HostConnector {
    let base: String
    let systemd: SystemdDouble
    func connect(_ endpoint: HostEndpoint) async throws -> any HostConnection {
        SystemdDoubleConnection(local: RootedHost(hostName: endpoint.name, root: base + "/" + endpoint.name), systemd: systemd)
    }
}

enum Fixture {
    static func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// A fake Debian host tree: os-release, no swap, kernel modules loaded, sysctls set.
    static func host(_ root: String) throws {
        try write("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", to: root + "/etc/os-release")
        try write("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n", to: root + "/proc/swaps")
        try write("br_netfilter 32768 0 - Live 0x0\noverlay 163840 0 - Live 0x0\n", to: root + "/proc/modules")
        try write("1\n", to: root + "/proc/sys/net/ipv4/ip_forward")
        try write("1\n", to: root + "/proc/sys/net/bridge/bridge-nf-call-iptables")
        try write("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n", to: root + "/proc/net/tcp")
    }

    static func sha256(_ path: String) throws -> String { try ArtifactStore.sha256(ofFile: path) }

    static func tar(_ directory: String, entries: [String], to archive: String) throws {
        let tar = try runProgram(["tar", "-C", directory, "-czf", archive] + entries)
        guard tar.succeeded else { throw WorkflowError.internalInvariant("tar failed for \(archive): \(tar.stderr)") }
    }

    /// A local artifact directory in every upstream layout, with each project's checksum-file format.
    /// The file contents are data for layout and checksum tests, not programs.
    @discardableResult
    static func releaseSource(_ dir: String, versions: ComponentVersions, marker: String = "1") throws -> String {
        let k8s = dir + "/kubernetes/\(versions.kubernetes.tag)/bin/linux/amd64"
        for name in ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"] {
            try write("#!/bin/sh\necho \(name) \(marker)\n", to: k8s + "/" + name, mode: 0o755)
            try write(try sha256(k8s + "/" + name) + "\n", to: k8s + "/" + name + ".sha256")
        }
        let stage = dir + "/.stage"
        try write("containerd\n", to: stage + "/containerd/bin/containerd", mode: 0o755)
        try write("shim\n", to: stage + "/containerd/bin/containerd-shim-runc-v2", mode: 0o755)
        try write("ctr\n", to: stage + "/containerd/bin/ctr", mode: 0o755)
        let cd = dir + "/containerd/v\(versions.containerd)"
        let cdFile = "containerd-\(versions.containerd)-linux-amd64.tar.gz"
        try FileManager.default.createDirectory(atPath: cd, withIntermediateDirectories: true)
        try tar(stage + "/containerd", entries: ["bin"], to: cd + "/" + cdFile)
        try write("\(try sha256(cd + "/" + cdFile))  \(cdFile)\n", to: cd + "/" + cdFile + ".sha256sum")

        let rc = dir + "/runc/v\(versions.runc)"
        try write("runc\n", to: rc + "/runc.amd64", mode: 0o755)
        try write("\(String(repeating: "0", count: 64))  runc.arm64\n\(try sha256(rc + "/runc.amd64"))  runc.amd64\n", to: rc + "/runc.sha256sum")

        try write("crictl\n", to: stage + "/crictl/crictl", mode: 0o755)
        let ct = dir + "/cri-tools/v\(versions.crictl)"
        let ctFile = "crictl-v\(versions.crictl)-linux-amd64.tar.gz"
        try FileManager.default.createDirectory(atPath: ct, withIntermediateDirectories: true)
        try tar(stage + "/crictl", entries: ["crictl"], to: ct + "/" + ctFile)
        try write(try sha256(ct + "/" + ctFile) + "\n", to: ct + "/" + ctFile + ".sha256")

        for plugin in ["bridge", "loopback", "host-local"] { try write("\(plugin)\n", to: stage + "/cni/" + plugin, mode: 0o755) }
        try write("Apache License\n", to: stage + "/cni/LICENSE")
        let cni = dir + "/cni-plugins/v\(versions.cniPlugins)"
        let cniFile = "cni-plugins-linux-amd64-v\(versions.cniPlugins).tgz"
        try FileManager.default.createDirectory(atPath: cni, withIntermediateDirectories: true)
        try tar(stage + "/cni", entries: ["./bridge", "./loopback", "./host-local", "./LICENSE"], to: cni + "/" + cniFile)
        try write("\(try sha256(cni + "/" + cniFile))  \(cniFile)\n", to: cni + "/" + cniFile + ".sha256")
        try FileManager.default.removeItem(atPath: stage)
        return dir
    }

    static let versions = ComponentVersions.defaults(for: SemanticVersion(1, 31, 4))!

    /// h1, h2: control plane + etcd; h3: worker. The API load balancer is `external`: these host trees run
    /// commands on this machine, where the node-local balancer's package install must never run (haproxy
    /// and keepalived are exercised on lab hosts).
    static func inventory(endpoint: String? = nil) -> Inventory {
        Inventory(
            name: "lab", kubernetesVersion: SemanticVersion(1, 31, 4),
            controlPlane: ControlPlaneSpec(endpoint: endpoint, loadBalancer: .external),
            hosts: [
                HostSpec(name: "h1", address: "127.0.0.1", roles: [.controlPlane, .etcd]),
                HostSpec(name: "h2", address: "10.213.0.12", roles: [.controlPlane, .etcd]),
                HostSpec(name: "h3", address: "10.213.0.13", roles: [.worker], labels: ["capstan.dev/lab": "true"]),
            ])
    }

    static func endpoints(_ names: [String]) -> [HostEndpoint] {
        names.map { HostEndpoint(name: $0, address: "127.0.0.1", authentication: [.agent], knownHostsFile: "/dev/null") }
    }

    static let settings = KubernetesInstallSettings(
        preflight: PreflightRequirements(requiredCommands: ["sh", "sha256sum"], recommendedCommands: [], maxClockSkewSeconds: 30),
        healthGate: HealthGate(timeoutSeconds: 0.6, intervalSeconds: 0.1))

    /// A PKI state directory, a release source, resolved artifacts and fake host trees for `inventory`.
    static func cluster(_ base: String, inventory: Inventory = Fixture.inventory()) async throws -> (ClusterFiles, NodeArtifacts) {
        let state = StateDirectory(root: base + "/state")
        try await PKIPhase.create(PKIManager(inventory: inventory, state: state), now: Date())
        try releaseSource(base + "/source", versions: versions)
        let store = ArtifactStore(origin: .localDirectory(base + "/source"), cacheDirectory: base + "/cache")
        let artifacts = try await NodeArtifacts.resolve(store: store, inventory: inventory, versions: versions)
        for host in inventory.hosts { try Fixture.host(base + "/hosts/" + host.name) }
        return (try ClusterFiles(inventory: inventory, state: state), artifacts)
    }
}
