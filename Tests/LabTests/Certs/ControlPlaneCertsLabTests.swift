import Foundation
import Lab
import Testing
import TestSupport

/// Control-plane certificate rotation on a whole lab cluster: 3 stacked control-plane hosts (etcd 3.5.1,
/// h3 also a worker), the Kubernetes components as Capstan's stand-ins, which check their certificates
/// and kubeconfigs at start and serve /livez over TLS asking for client certificates of --client-ca-file.
/// Witnesses besides Capstan: systemd's activation times on the hosts (one monotonic clock, since the lab
/// hosts share this machine's kernel), and curl and openssl on this machine.
@Suite("control-plane certificates on lab hosts: leaf rollout, rollback, cluster CA rotation, apply --renew-before",
       .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct ControlPlaneCertsLabTests {
    static let dir = Scratch.directory("cp-certs-lab") + "/cluster"
    static let clusterName = "cpcerts"
    static let cp = ["control-plane", "etcd"]
    static let hosts = ["h1", "h2", "h3"]
    static let kubeUnits = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]
    var state: String { Self.dir + "/.capstan/" + Self.clusterName }

    /// The cluster, installed from bare hosts on first use in this process; later tests re-apply (a no-op).
    func cluster() throws -> (Lab, String) {
        let lab = try IntegrationLab.lab()
        let inventory = Self.dir + "/inventory.yaml"
        if !FileManager.default.fileExists(atPath: inventory) {
            try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        }
        let path = try IntegrationLab.writeInventory(lab, directory: Self.dir, cluster: Self.clusterName, version: "3.5.1",
                                                     roles: [1: Self.cp, 2: Self.cp, 3: Self.cp + ["worker"]])
        let r = try IntegrationLab.capstan(["apply", "-i", path])
        try #require(r.succeeded, "apply failed: \(r.all)")
        return (lab, path)
    }

    func check(_ inventory: String) throws -> (IntegrationLab.Run, [[String: Any]]) {
        let r = try IntegrationLab.capstan(["certs", "check", "-i", inventory, "--output", "json"])
        let object = (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8))) as? [String: Any] ?? [:]
        return (r, object["rows"] as? [[String: Any]] ?? [])
    }

    /// Rows of the certificates served on `port`, by host.
    func served(_ rows: [[String: Any]], port: Int = 6443) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for row in rows where (row["file"] as? String ?? "").hasSuffix(":\(port) (served)") { out[row["host"] as? String ?? ""] = row }
        return out
    }

    func serial(_ row: [String: Any]?) -> String? { (row?["found"] as? [String: Any])?["serial"] as? String }

    /// Every file and served certificate on every host equals the state's.
    func expectClean(_ inventory: String, _ when: String) throws {
        let (r, rows) = try check(inventory)
        #expect(r.succeeded, "certs check \(when): \(r.all)")
        #expect(served(rows).count == 3 && served(rows, port: 2379).count == 3, "served rows \(when)")
        let differing = rows.filter { $0["matchesState"] as? Bool != true }
        #expect(differing.isEmpty, "differs from the state \(when): \(differing.map { "\($0["host"] ?? "")\t\($0["file"] ?? "")\t\($0["problems"] ?? "")" })")
    }

    /// `ActiveEnterTimestampMonotonic` of each unit on each host (µs on the shared kernel clock).
    func activations(_ lab: Lab, units: [String] = ["etcd"] + kubeUnits) throws -> [String: [String: UInt64]] {
        var out: [String: [String: UInt64]] = [:]
        for host in Self.hosts {
            let r = try lab.run(in: host, ["systemctl", "show", "-p", "ActiveEnterTimestampMonotonic", "--value"] + units.map { $0 + ".service" })
            let values = r.stdout.split(separator: "\n").map { UInt64($0.trimmingCharacters(in: .whitespaces)) ?? 0 }
            out[host] = Dictionary(uniqueKeysWithValues: zip(units, values))
        }
        return out
    }

    func expectAllActive(_ lab: Lab, _ when: String) throws {
        for host in Self.hosts {
            let r = try lab.run(in: host, ["systemctl", "is-active"] + (["etcd"] + Self.kubeUnits).map { $0 + ".service" })
            #expect(r.stdout.split(separator: "\n").allSatisfy { $0 == "active" }, "\(host) \(when): \(r.stdout)")
        }
    }

    /// The CA, client certificate and key embedded in `file` on `host`, written to files on this machine.
    func credentials(_ lab: Lab, _ host: String, _ file: String, as name: String) throws -> (ca: String, cert: String, key: String) {
        let text = try lab.run(in: host, ["cat", file]).stdout
        let d = Self.dir + "/clients/" + name
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        var paths: [String] = []
        for (field, out) in [("certificate-authority-data", "ca.crt"), ("client-certificate-data", "client.crt"), ("client-key-data", "client.key")] {
            let line = try #require(text.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(field + ":") }, "\(field) in \(file)")
            let value = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
            let data = try #require(Data(base64Encoded: value))
            _ = FileManager.default.createFile(atPath: d + "/" + out, contents: data, attributes: [.posixPermissions: 0o600])
            paths.append(d + "/" + out)
        }
        return (paths[0], paths[1], paths[2])
    }

    func certificates(in pem: String) -> Int { pem.components(separatedBy: "BEGIN CERTIFICATE").count - 1 }

    /// GET /livez on `host`'s API server with a CA file and a client pair.
    func livez(_ lab: Lab, _ n: Int, ca: String, cert: String, key: String) throws -> IntegrationLab.Run {
        try IntegrationLab.run("/usr/bin/curl", ["-fsS", "--max-time", "5", "--cacert", ca, "--cert", cert, "--key", key,
                                                 "https://\(lab.layout.hostAddress(n)):6443/livez"])
    }

    @Test("control-plane leaves: the plan changes nothing; --yes rolls host after host (systemd activation times do not interleave), every control-plane host serves a new state certificate on :6443, certs check clean")
    func leafRotation() throws {
        let (lab, inventory) = try cluster()
        let leaves = ["apiserver", "apiserver-kubelet-client", "front-proxy-client", "admin.conf", "controller-manager.conf",
                      "scheduler.conf", "kubelet.conf", "kube-proxy.conf"]
        let only = leaves.flatMap { ["--only", $0] }
        let before = served(try check(inventory).1)
        #expect(before.count == 3, "every control-plane host serves on :6443: \(before.keys.sorted())")

        let plan = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--dry-run"] + only)
        #expect(plan.succeeded, "\(plan.all)")
        #expect(plan.stdout.contains("re-issue apiserver@h1") && plan.stdout.contains("re-issue kubelet.conf@h3") && plan.stdout.contains("(leader, last)"), "\(plan.stdout)")
        #expect(served(try check(inventory).1).mapValues { serial($0) } == before.mapValues { serial($0) }, "the plan must change nothing")

        let start = try activations(lab)
        let rotate = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--yes"] + only)
        #expect(rotate.succeeded, "\(rotate.all)")
        print("MEASURED control-plane leaf rotation of 3 hosts (\(leaves.count) leaf names): \(String(format: "%.1f", rotate.seconds)) s")
        let end = try activations(lab)

        // Every Kubernetes service restarted on every host, etcd did not (none of its files changed).
        for host in Self.hosts {
            for unit in Self.kubeUnits { #expect(end[host]?[unit] != start[host]?[unit], "\(unit) on \(host) was not restarted") }
            #expect(end[host]?["etcd"] == start[host]?["etcd"], "etcd on \(host) restarted although its files did not change")
        }
        // One host at a time: each host's restarts all happen before the next host's first one.
        let spans = Self.hosts.map { host in
            let values = Self.kubeUnits.compactMap { end[host]?[$0] }
            return (host: host, first: values.min() ?? 0, last: values.max() ?? 0)
        }.sorted { $0.first < $1.first }
        for (a, b) in zip(spans, spans.dropFirst()) {
            #expect(a.last < b.first, "\(a.host)'s restarts overlap \(b.host)'s: \(spans)")
        }
        // The API server was healthy before its host's clients restarted.
        let gates = rotate.stdout.split(separator: "\n").filter { $0.contains("kube-apiserver healthy with the new files") }
        #expect(gates.count == 3, "\(rotate.stdout)")

        let after = served(try check(inventory).1)
        for host in Self.hosts {
            #expect(serial(after[host]) != nil && serial(after[host]) != serial(before[host]), "\(host) still serves the old serial")
        }
        try expectClean(inventory, "after the leaf rotation")
        try expectAllActive(lab, "after the leaf rotation")
    }

    @Test("an API server that refuses its new certificate: that host gets its .prev files back and serves the old one again, exit 1, the other hosts untouched; without the fault a re-run converges")
    func rollbackOnFailure() throws {
        let (lab, inventory) = try cluster()
        let before = served(try check(inventory).1).mapValues { serial($0) }
        // An operator's drop-in on every host: kube-apiserver starts only with the serving certificate it has now.
        let dropIn = "/etc/systemd/system/kube-apiserver.service.d/only-this-cert.conf"
        for host in Self.hosts {
            let fault = try lab.run(in: host, ["sh", "-c", "cp /etc/kubernetes/pki/apiserver.crt /root/apiserver.crt.good && mkdir -p \(dropIn.replacingOccurrences(of: "/only-this-cert.conf", with: "")) && printf '[Service]\\nExecStartPre=/usr/bin/cmp -s /etc/kubernetes/pki/apiserver.crt /root/apiserver.crt.good\\n' > \(dropIn) && systemctl daemon-reload"])
            #expect(fault.succeeded, "drop-in on \(host): \(fault.stderr)")
        }
        var removed = false
        func removeDropIns() { for host in Self.hosts { _ = try? lab.run(in: host, ["sh", "-c", "rm -f \(dropIn) && systemctl daemon-reload"]) } }
        defer { if !removed { removeDropIns() } }

        let start = try activations(lab, units: ["kube-apiserver"])
        let failed = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--only", "apiserver", "--yes", "--health-timeout", "20"])
        #expect(failed.status == 1, "\(failed.all)")
        #expect(failed.stderr.contains("restored from .prev"), "\(failed.stderr)")
        let end = try activations(lab, units: ["kube-apiserver"])
        let touched = Self.hosts.filter { start[$0]?["kube-apiserver"] != end[$0]?["kube-apiserver"] }
        #expect(touched.count == 1, "only the first host may be touched: \(touched)")
        for host in Self.hosts {
            let same = try lab.run(in: host, ["sh", "-c", "cmp /etc/kubernetes/pki/apiserver.crt /root/apiserver.crt.good && systemctl is-active kube-apiserver"])
            #expect(same.stdout.contains("active"), "\(host): apiserver.crt must be the old one and kube-apiserver active: \(same.stdout)\(same.stderr)")
        }
        #expect(served(try check(inventory).1).mapValues { serial($0) } == before, "every host serves its old certificate after the rollback")

        removeDropIns()
        removed = true
        let again = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--yes"])
        #expect(again.succeeded, "\(again.all)")
        try expectClean(inventory, "after the re-run")
        try expectAllActive(lab, "after the re-run")
    }

    @Test("a scheduler that runs and is accepted by its API server but serves no /healthz on 10259 fails the rotation gate: that host gets scheduler.conf back, exit 1; without the fault a re-run converges")
    func schedulerHealthzGate() throws {
        let (lab, inventory) = try cluster()
        // An operator's drop-in on every host: kube-scheduler serves its health port on 10299 instead of
        // 10259. The unit stays active and its kubeconfig accepted, so only the /healthz probe can refuse it.
        let dir = "/etc/systemd/system/kube-scheduler.service.d"
        let unit = "/etc/systemd/system/kube-scheduler.service"
        var before: [String: String] = [:]
        for host in Self.hosts {
            let fault = try lab.run(in: host, ["sh", "-c", "mkdir -p \(dir) && { printf '[Service]\\nExecStart=\\n'; sed -n '/^ExecStart=/,/[^\\\\]$/p' \(unit) | sed '$ s/$/ --secure-port=10299/'; } > \(dir)/moved-port.conf && systemctl daemon-reload"])
            #expect(fault.succeeded, "drop-in on \(host): \(fault.stderr)")
            before[host] = try lab.run(in: host, ["cat", "/etc/kubernetes/scheduler.conf"]).stdout
        }
        var removed = false
        func removeDropIns() {
            for host in Self.hosts { _ = try? lab.run(in: host, ["sh", "-c", "rm -f \(dir)/moved-port.conf && systemctl daemon-reload && systemctl restart kube-scheduler"]) }
        }
        defer { if !removed { removeDropIns() } }

        let failed = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--only", "scheduler.conf", "--yes", "--health-timeout", "10"])
        #expect(failed.status == 1, "\(failed.all)")
        #expect(failed.stderr.contains("https://127.0.0.1:10259/healthz") && failed.stderr.contains("restored from .prev"), "\(failed.stderr)")
        for host in Self.hosts {
            let now = try lab.run(in: host, ["sh", "-c", "cat /etc/kubernetes/scheduler.conf; systemctl is-active kube-scheduler >&2"])
            #expect(now.stdout == before[host], "\(host): scheduler.conf is the old one (rolled back or never touched)")
            #expect(now.stderr.contains("active"), "\(host): kube-scheduler is running, so only /healthz could fail the gate: \(now.stderr)")
        }

        removeDropIns()
        removed = true
        let again = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--yes"])
        #expect(again.succeeded, "\(again.all)")
        #expect(again.stdout.contains("kube-scheduler.service healthy (https://127.0.0.1:10259/healthz)"), "\(again.stdout)")
        try expectClean(inventory, "after the re-run")
        try expectAllActive(lab, "after the re-run")
    }

    @Test("cluster CA rotation: trust (bundles in ca.crt and kubeconfigs), leaves (killed mid-phase, resumed), untrust; old admin credentials accepted until untrust and refused after; every service healthy throughout; certs check clean at the end")
    func clusterCARotation() throws {
        let (lab, inventory) = try cluster()
        let record = state + "/rotation.json"
        let old = try credentials(lab, "h1", "/etc/kubernetes/admin.conf", as: "old-admin")
        #expect(try livez(lab, 2, ca: old.ca, cert: old.cert, key: old.key).succeeded, "the old admin credentials work before the rotation")

        let plan = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--dry-run", "--ca", "cluster"])
        #expect(plan.succeeded && plan.stdout.contains("1. trust") && !FileManager.default.fileExists(atPath: record), "\(plan.all)")

        // (a) trust: every host trusts old + new; leaves unchanged; old credentials still work everywhere.
        let a = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--ca", "cluster", "--yes", "--stop-after", "trust"])
        #expect(a.succeeded, "\(a.all)")
        for host in Self.hosts {
            #expect(certificates(in: try lab.run(in: host, ["cat", "/etc/kubernetes/pki/ca.crt"]).stdout) == 2, "\(host) ca.crt")
            let kubelet = try credentials(lab, host, "/etc/kubernetes/kubelet.conf", as: "kubelet-trust-\(host)")
            #expect(certificates(in: try String(contentsOfFile: kubelet.ca, encoding: .utf8)) == 2, "\(host) kubelet.conf certificate-authority-data")
        }
        for n in 1...3 { #expect(try livez(lab, n, ca: old.ca, cert: old.cert, key: old.key).succeeded, "old credentials on h\(n) after trust") }
        try expectAllActive(lab, "after trust")
        let other = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--ca", "front-proxy", "--yes"])
        #expect(other.status == 1 && other.stderr.contains("is in progress"), "a second CA rotation must wait: \(other.all)")

        // (b) leaves, killed after the first host, then resumed to the end of the phase.
        let killed = try IntegrationLab.capstanKilled(["certs", "rotate", "-i", inventory, "--ca", "cluster", "--yes"]) { _ in IntegrationLab.leavesAfterFirstHost(record: record) }
        #expect(!killed.killedAt.isEmpty && killed.byKill, "capstan was not caught mid-phase")
        let b = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--ca", "cluster", "--yes", "--stop-after", "leaves"])
        #expect(b.succeeded, "\(b.all)")
        #expect(b.stdout.contains("resuming the ca rotation at phase leaves"), "\(b.stdout)")
        let bundle = state + "/pki/ca.crt"
        #expect(certificates(in: try String(contentsOfFile: bundle, encoding: .utf8)) == 2)
        for n in 1...3 {
            #expect(try livez(lab, n, ca: bundle, cert: old.cert, key: old.key).succeeded, "old client certificate on h\(n) after leaves")
        }
        let servedB = served(try check(inventory).1)
        for host in Self.hosts { #expect(servedB[host]?["matchesState"] as? Bool == true, "\(host) serves the new CA's certificate after leaves") }
        try expectAllActive(lab, "after leaves")

        // (c) untrust: the old CA's client certificate is refused; the new admin.conf works; the record is gone.
        let c = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--ca", "cluster", "--yes"])
        #expect(c.succeeded, "\(c.all)")
        #expect(!FileManager.default.fileExists(atPath: record))
        #expect(certificates(in: try String(contentsOfFile: bundle, encoding: .utf8)) == 1)
        let current = try credentials(lab, "h2", "/etc/kubernetes/admin.conf", as: "new-admin")
        for n in 1...3 {
            #expect(!(try livez(lab, n, ca: bundle, cert: old.cert, key: old.key).succeeded), "old client certificate must be refused on h\(n) after untrust")
            #expect(try livez(lab, n, ca: current.ca, cert: current.cert, key: current.key).succeeded, "new admin.conf on h\(n)")
            #expect(certificates(in: try lab.run(in: "h\(n)", ["cat", "/etc/kubernetes/pki/ca.crt"]).stdout) == 1, "h\(n) ca.crt after untrust")
        }
        let verifyNew = try IntegrationLab.run("/usr/bin/openssl", ["verify", "-CAfile", bundle, state + "/pki/hosts/h1/apiserver.crt"])
        #expect(verifyNew.succeeded, "the serving certificate verifies against the new CA: \(verifyNew.all)")
        let verify = try IntegrationLab.run("/usr/bin/openssl", ["verify", "-CAfile", old.ca, state + "/pki/hosts/h1/apiserver.crt"])
        #expect(verify.status != 0, "the new serving certificate must not verify against the old CA")
        try expectClean(inventory, "after the CA rotation")
        try expectAllActive(lab, "after the CA rotation")
    }

    @Test("front-proxy CA rotation in one run: every host ends with one new front-proxy CA that signs the proxy client certificate; only the API servers and controller managers restart (kubelet, kube-proxy, etcd untouched); certs check clean")
    func frontProxyCARotation() throws {
        let (lab, inventory) = try cluster()
        let oldCA = Self.dir + "/clients/front-proxy-ca.old.crt"
        try FileManager.default.createDirectory(atPath: Self.dir + "/clients", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: oldCA)
        try FileManager.default.copyItem(atPath: state + "/pki/front-proxy-ca.crt", toPath: oldCA)
        let start = try activations(lab)
        let r = try IntegrationLab.capstan(["certs", "rotate", "-i", inventory, "--ca", "front-proxy", "--yes"])
        #expect(r.succeeded, "\(r.all)")
        #expect(r.stdout.contains("front-proxy-ca complete") && !FileManager.default.fileExists(atPath: state + "/rotation.json"), "\(r.stdout)")
        print("MEASURED front-proxy CA rotation, 3 phases on 3 hosts: \(String(format: "%.1f", r.seconds)) s")
        let end = try activations(lab)
        for host in Self.hosts {
            for unit in ["kube-apiserver", "kube-controller-manager"] { #expect(end[host]?[unit] != start[host]?[unit], "\(unit) on \(host) was not restarted") }
            for unit in ["etcd", "kube-scheduler", "kubelet", "kube-proxy"] { #expect(end[host]?[unit] == start[host]?[unit], "\(unit) on \(host) restarted although it reads no front-proxy file") }
            let onHost = try lab.run(in: host, ["cat", "/etc/kubernetes/pki/front-proxy-ca.crt"]).stdout
            let previous = try String(contentsOfFile: oldCA, encoding: .utf8)
            #expect(certificates(in: onHost) == 1 && onHost != previous, "\(host) front-proxy-ca.crt is the new CA alone")
        }
        let client = state + "/pki/hosts/h2/front-proxy-client.crt"
        let good = try IntegrationLab.run("/usr/bin/openssl", ["verify", "-CAfile", state + "/pki/front-proxy-ca.crt", client])
        #expect(good.succeeded, "\(good.all)")
        let bad = try IntegrationLab.run("/usr/bin/openssl", ["verify", "-CAfile", oldCA, client])
        #expect(!bad.succeeded, "the proxy client certificate must not verify against the old front-proxy CA")
        try expectClean(inventory, "after the front-proxy CA rotation")
        try expectAllActive(lab, "after the front-proxy CA rotation")
    }

    @Test("apply --renew-before 400d: --dry-run lists every leaf (all expire within 400 days) and changes nothing; apply re-issues them and rolls them out in its last phase; every served certificate is new")
    func applyRenewBefore() throws {
        let (lab, inventory) = try cluster()
        let rows = try check(inventory).1
        let before = served(rows).merging(served(rows, port: 2379).mapKeys { $0 + ":2379" }) { a, _ in a }.mapValues { serial($0) }
        let dry = try IntegrationLab.capstan(["apply", "-i", inventory, "--only", "pki", "--renew-before", "400d", "--dry-run"])
        #expect(dry.succeeded, "\(dry.all)")
        #expect(dry.stdout.contains("would re-issue apiserver@h2") && dry.stdout.contains("would re-issue etcd/server@h3"), "\(dry.stdout)")
        // Each re-issue is an action of the dry run's count, as apply would count it.
        let counted = dry.stdout.firstMatch(of: /would make (\d+) change\(s\)/).flatMap { Int($0.1) } ?? 0
        let listed = dry.stdout.split(separator: "\n").filter { $0.hasPrefix("[state] re-issue ") }.count
        #expect(listed >= 6 && counted >= listed, "\(dry.stdout)")
        let unchanged = try check(inventory).1
        #expect(served(unchanged).mapValues { serial($0) }.count == 3)
        #expect(served(unchanged).mapValues { serial($0) } == served(rows).mapValues { serial($0) }, "the dry run must change nothing")

        let r = try IntegrationLab.capstan(["apply", "-i", inventory, "--only", "pki", "--renew-before", "400d"])
        #expect(r.succeeded, "\(r.all)")
        #expect(r.stdout.contains("certs-renew") && r.stdout.contains("rolled new certificates out to"), "\(r.stdout)")
        print("MEASURED apply --only pki --renew-before 400d (every leaf, 3 hosts): \(String(format: "%.1f", r.seconds)) s")
        let afterRows = try check(inventory).1
        let after = served(afterRows).merging(served(afterRows, port: 2379).mapKeys { $0 + ":2379" }) { a, _ in a }.mapValues { serial($0) }
        #expect(after.count == 6)
        for (key, value) in after { #expect(value != nil && value != (before[key] ?? nil), "\(key) still serves its old serial") }
        try expectClean(inventory, "after apply --renew-before")
        try expectAllActive(lab, "after apply --renew-before")
    }
}

extension Dictionary {
    func mapKeys(_ transform: (Key) -> Key) -> [Key: Value] {
        Dictionary(uniqueKeysWithValues: map { (transform($0.key), $0.value) })
    }
}
