import Foundation
import Testing
import TestSupport
import Lab

/// `loadBalancer: node-local` on lab hosts: real haproxy (Debian's) on the worker, the API server
/// stand-ins serving /readyz over TLS on three control-plane hosts. A probe on the worker sends
/// requests through 127.0.0.1:6443 while API servers stop and come back; the failed ones are counted.
@Suite("Node-local API balancer and API virtual IP on lab hosts", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct NodeBalancerLabTests {
    static let cp = ["control-plane", "etcd"]
    static let roles: [Int: [String]] = [1: cp, 2: cp, 3: cp, 4: ["worker"]]

    /// A free address of the lab's subnet for the virtual IP.
    static func virtualIP(_ lab: Lab) -> String { lab.layout.subnetPrefix + ".100" }

    func writeInventory(_ lab: Lab, roles: [Int: [String]] = Self.roles, vip: Bool = false) throws -> (path: String, state: String) {
        let dir = Scratch.directory("lb-lab" + (vip ? "-vip" : ""))
        let path = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "lblab", version: "3.5.1", roles: roles)
        // node-local: no endpoint (nodes use their own balancer; the default with several control-plane
        // hosts, written out here); vip: the endpoint is the virtual IP.
        let balancer = vip ? "    loadBalancer: vip\n    endpoint: \(Self.virtualIP(lab)):6443\n" : "    loadBalancer: node-local\n"
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "    endpoint: \(lab.layout.hostAddress(1)):6443\n", with: balancer)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return (path, dir + "/.capstan/lblab")
    }

    /// A bounded probe on `host`: one new TLS connection to https://127.0.0.1:6443/readyz every 50 ms for
    /// `seconds`, verified against the cluster CA; one line per request: `<unix time> ok|fail <reason>`.
    static let probe = """
    import http.client, ssl, sys, time
    target = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    ctx = ssl.create_default_context(cafile="/etc/kubernetes/pki/ca.crt")
    end = time.time() + float(sys.argv[1])
    with open(sys.argv[2], "w", buffering=1) as out:
        while time.time() < end:
            t = time.time()
            try:
                c = http.client.HTTPSConnection(target, 6443, context=ctx, timeout=2)
                c.request("GET", "/readyz")
                r = c.getresponse()
                out.write("%.3f %s %d\\n" % (t, "ok" if r.status == 200 else "fail", r.status))
                c.close()
            except Exception as e:
                out.write("%.3f fail %s\\n" % (t, type(e).__name__))
            time.sleep(max(0.0, 0.05 - (time.time() - t)))
    """

    struct ProbeLine { var time: Double; var ok: Bool; var detail: String }

    func startProbe(_ lab: Lab, on host: String, seconds: Int, target: String = "127.0.0.1") throws {
        try lab.run(in: host, ["sh", "-c", "systemctl stop capstan-lb-probe 2>/dev/null; cat > /root/lb-probe.py <<'PY'\n\(Self.probe)\nPY\nrm -f /root/lb-probe.log"])
        try lab.run(in: host, ["systemd-run", "--unit=capstan-lb-probe", "--collect", "python3", "/root/lb-probe.py", "\(seconds)", "/root/lb-probe.log", target])
    }

    func readProbe(_ lab: Lab, _ host: String) throws -> [ProbeLine] {
        try lab.run(in: host, ["cat", "/root/lb-probe.log"]).stdout.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let t = Double(parts[0]) else { return nil }
            return ProbeLine(time: t, ok: parts[1] == "ok", detail: parts.dropFirst(2).joined(separator: " "))
        }
    }

    /// Between `start` and `end`: seconds from the first to the last failed request (0 when none failed),
    /// the longest run of consecutive failures in seconds, and the failures with their offsets.
    func failureWindow(_ lines: [ProbeLine], from start: Double, to end: Double) -> (seconds: Double, longest: Double, failed: Int, total: Int, detail: String) {
        let slice = lines.filter { $0.time >= start && $0.time < end }
        let failed = slice.filter { !$0.ok }
        guard let first = failed.first, let last = failed.last else { return (0, 0, 0, slice.count, "") }
        var longest = 0.0, runStart: Double?
        for line in slice {
            if line.ok { runStart = nil; continue }
            let began = runStart ?? line.time
            runStart = began
            longest = max(longest, line.time - began + 0.05)
        }
        let detail = failed.prefix(6).map { String(format: "+%.2fs %@", $0.time - start, $0.detail) }.joined(separator: ", ")
        return (last.time - first.time + 0.05, longest, failed.count, slice.count, detail)
    }

    func hostTime(_ lab: Lab, _ host: String) throws -> Double {
        Double(try lab.run(in: host, ["date", "+%s.%N"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func stamps(_ lab: Lab, _ host: String, _ units: [String]) throws -> [String] {
        try units.map { try IntegrationLab.unitStartStamp(lab, host, $0) + (try lab.run(in: host, ["systemctl", "show", $0, "-p", "MainPID"]).stdout) }
    }

    @Test("worker reaches the API through 127.0.0.1:6443 while each API server stops and returns and a control-plane host powers off; the failure window is measured; a no-op re-apply changes nothing; adding and removing a control-plane host reloads haproxy and restarts no kubelet or kube-proxy")
    func failoverAndMembership() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (inventory, state) = try writeInventory(lab)
        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(first.succeeded, "apply failed: \(first.all)")

        // The worker's kubelet and kube-proxy talk to its balancer; a control-plane host's to its own API server.
        for file in ["kubelet.conf", "kube-proxy.conf"] {
            let worker = try lab.run(in: "h4", ["grep", "server:", "/etc/kubernetes/\(file)"]).stdout
            #expect(worker.contains("https://127.0.0.1:6443"), "\(file) on h4: \(worker)")
        }
        #expect(try lab.run(in: "h4", ["systemctl", "is-active", "haproxy", "kubelet", "kube-proxy"]).stdout.split(separator: "\n") == ["active", "active", "active"])
        #expect(try lab.run(in: "h1", ["grep", "-c", "server h", "/etc/haproxy/haproxy.cfg"]).stdout.hasPrefix("0"), "a control-plane host with the default port runs no balancer")
        // The API servers' certificates carry 127.0.0.1 and localhost (openssl is the witness).
        let sans = try IntegrationLab.run("/usr/bin/openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", state + "/pki/hosts/h2/apiserver.crt"])
        #expect(sans.stdout.contains("IP Address:127.0.0.1") && sans.stdout.contains("DNS:localhost"), "\(sans.stdout)")

        // No-op re-apply: no action at all.
        let noop = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(noop.succeeded, "\(noop.all)")
        let actions = noop.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }
        #expect(actions.isEmpty, "no-op apply acted: \(actions)")

        // Failover: the probe runs on the worker while API servers stop one at a time, then a host powers off.
        // Its limit is far above the ~50 s the steps take: a power-off has taken 30 s on a loaded machine, and a
        // probe that ended early would leave the last window empty. It is stopped below once the steps are done.
        try startProbe(lab, on: "h4", seconds: 180)
        Thread.sleep(forTimeInterval: 3)
        var events: [(String, Double)] = []
        for host in ["h1", "h2"] {
            events.append(("stop kube-apiserver on \(host)", try hostTime(lab, "h4")))
            try lab.run(in: host, ["systemctl", "stop", "kube-apiserver"])
            Thread.sleep(forTimeInterval: 6)
            events.append(("start kube-apiserver on \(host)", try hostTime(lab, "h4")))
            try lab.run(in: host, ["systemctl", "start", "kube-apiserver"])
            Thread.sleep(forTimeInterval: 6)
        }
        events.append(("lab stop h3 (power off)", try hostTime(lab, "h4")))
        try lab.stop(host: "h3")
        Thread.sleep(forTimeInterval: 8)
        events.append(("lab start h3", try hostTime(lab, "h4")))
        try lab.start(host: "h3")
        Thread.sleep(forTimeInterval: 10)
        events.append(("end", try hostTime(lab, "h4")))
        try lab.run(in: "h4", ["sh", "-c", "systemctl stop capstan-lb-probe 2>/dev/null; true"])
        let lines = try readProbe(lab, "h4")
        #expect(lines.count > 300, "the probe ran \(lines.count) requests")
        for (i, event) in events.dropLast().enumerated() {
            let w = failureWindow(lines, from: event.1, to: events[i + 1].1)
            print("MEASURED node-local \(event.0): \(w.failed) of \(w.total) requests failed, failure window \(String(format: "%.2f", w.seconds)) s \(w.detail)")
            #expect(w.seconds <= 2.0, "\(event.0): failures for \(w.seconds) s")
        }
        // While every API server runs, every request succeeds (the probe does fail when it should: see above).
        let settled = failureWindow(lines, from: events[events.count - 2].1 + 8, to: events[events.count - 1].1)
        #expect(settled.failed == 0 && settled.total > 0)

        // Membership: a fourth control-plane host is added, then removed. haproxy reloads (its master
        // process and start time stay), kubelet and kube-proxy keep running untouched.
        let nodeUnits = ["haproxy.service", "kubelet.service", "kube-proxy.service"]
        let before = try stamps(lab, "h4", nodeUnits)
        var grown = Self.roles
        grown[5] = ["control-plane"]
        let (bigger, _) = try writeInventory(lab, roles: grown)
        // The new host's address joins every API server certificate, so this apply restarts the API
        // servers one at a time, as certificate rotation and upgrades do: the worker keeps reaching the API.
        try startProbe(lab, on: "h4", seconds: 90)
        let addFrom = try hostTime(lab, "h4")
        let add = try IntegrationLab.capstan(["apply", "-i", bigger])
        #expect(add.succeeded, "\(add.all)")
        #expect(add.stdout.contains("[h1] control-plane: systemctl restart kube-apiserver.service"), "\(add.stdout)")
        let rolling = failureWindow(try readProbe(lab, "h4"), from: addFrom, to: try hostTime(lab, "h4"))
        try lab.run(in: "h4", ["sh", "-c", "systemctl stop capstan-lb-probe 2>/dev/null; true"])
        print("MEASURED node-local during apply with API servers restarted one at a time: \(rolling.failed) of \(rolling.total) requests failed, longest run of failures \(String(format: "%.2f", rolling.longest)) s: \(rolling.detail)")
        #expect(rolling.total > 50 && rolling.longest <= 2.0)
        #expect(add.stdout.contains("[h4] node-balancer: systemctl reload haproxy.service"), "\(add.stdout)")
        #expect(!add.stdout.contains("restart haproxy") && !add.stdout.contains("[h4] node-kubelet: systemctl restart"), "\(add.stdout)")
        let config = try lab.run(in: "h4", ["cat", "/etc/haproxy/haproxy.cfg"]).stdout
        #expect(config.contains("server h5 \(lab.layout.hostAddress(5)):6443"), "\(config)")
        Thread.sleep(forTimeInterval: 2)
        let up = try lab.run(in: "h4", ["curl", "-s", "--unix-socket", "/run/capstan-haproxy-stats.sock", "http://localhost/;csv"]).stdout
        #expect(up.split(separator: "\n").contains { $0.hasPrefix("kube-apiserver,h5,") && $0.contains(",UP,") }, "\(up)")
        #expect(try stamps(lab, "h4", nodeUnits) == before, "a unit on h4 restarted when a control-plane host was added")

        let (smaller, _) = try writeInventory(lab)
        let remove = try IntegrationLab.capstan(["apply", "-i", smaller])
        #expect(remove.succeeded, "\(remove.all)")
        #expect(remove.stdout.contains("[h4] node-balancer: systemctl reload haproxy.service"), "\(remove.stdout)")
        #expect(!(try lab.run(in: "h4", ["cat", "/etc/haproxy/haproxy.cfg"]).stdout.contains("server h5")))
        #expect(try stamps(lab, "h4", nodeUnits) == before, "a unit on h4 restarted when a control-plane host was removed")
    }

    /// The control-plane hosts that hold `address` now.
    func holders(_ lab: Lab, _ address: String, among hosts: [String]) -> [String] {
        hosts.filter { host in (try? lab.run(in: host, ["ip", "-o", "-4", "addr", "show", "to", address]).stdout.contains("inet \(address)/")) ?? false }
    }

    /// Polls until a host other than `old` holds the address; the seconds it took (nil after `limit`).
    func waitForMove(_ lab: Lab, _ address: String, from old: String, among hosts: [String], limit: Double = 10, since start: Date = Date()) -> (String, Double)? {
        while Date().timeIntervalSince(start) < limit {
            if let next = holders(lab, address, among: hosts.filter { $0 != old }).first { return (next, Date().timeIntervalSince(start)) }
            usleep(50_000)
        }
        return nil
    }

    @Test("vip: keepalived holds the endpoint's address on one control-plane host; it moves within 3 s when that host's API server fails or the host powers off, and does not move back when it returns; status names the holder and each node's backends")
    func virtualIP() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (inventory, state) = try writeInventory(lab, vip: true)
        let vip = Self.virtualIP(lab)
        let cps = ["h1", "h2", "h3"]
        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        try #require(first.succeeded, "apply failed: \(first.all)")
        let admin = try String(contentsOfFile: state + "/kubeconfig/admin.conf", encoding: .utf8)
        #expect(admin.contains("server: \"https://\(vip):6443\""))

        Thread.sleep(forTimeInterval: 3)
        let initial = holders(lab, vip, among: cps)
        try #require(initial.count == 1, "holders of \(vip): \(initial)")
        let holder = initial[0]
        // Through the address, from the worker (inside the lab network), verified against the cluster CA.
        let direct = try lab.run(in: "h4", ["curl", "-fsS", "--max-time", "3", "--cacert", "/etc/kubernetes/pki/ca.crt", "https://\(vip):6443/readyz"])
        #expect(direct.succeeded, "\(direct.stdout)\(direct.stderr)")
        let statusRun = try IntegrationLab.capstan(["status", "-i", inventory])
        #expect(statusRun.stdout.contains("API virtual IP \(vip): held by \(holder)"), "\(statusRun.stdout)")
        #expect(statusRun.stdout.contains("h4: h1 UP, h2 UP, h3 UP"), "\(statusRun.stdout)")
        let noop = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(noop.succeeded && !noop.stdout.contains("\"kind\":\"action\""), "\(noop.stdout)")

        try startProbe(lab, on: "h4", seconds: 60, target: vip)
        Thread.sleep(forTimeInterval: 2)
        // 1. The holder's API server fails.
        let t1 = try hostTime(lab, "h4")
        let failed = Date()
        try lab.run(in: holder, ["systemctl", "stop", "kube-apiserver"])
        let moved = waitForMove(lab, vip, from: holder, among: cps, since: failed)
        let second = try #require(moved?.0, "the address stayed on \(holder) after its API server stopped")
        print("MEASURED vip: API server on \(holder) stopped → address on \(second) after \(String(format: "%.2f", moved?.1 ?? -1)) s")
        #expect((moved?.1 ?? 99) <= 3.0)
        try lab.run(in: holder, ["systemctl", "start", "kube-apiserver"])
        Thread.sleep(forTimeInterval: 6)
        #expect(holders(lab, vip, among: cps) == [second], "the address moved back or is doubled after \(holder)'s API server returned")

        // 2. The new holder powers off.
        let t2 = try hostTime(lab, "h4")
        // Watched while `lab stop` runs (it returns once the host is gone, which takes seconds itself).
        let stopped = Date()
        let stopping = DispatchGroup()
        DispatchQueue.global().async(group: stopping) { try? lab.stop(host: second) }
        let movedAgain = waitForMove(lab, vip, from: second, among: cps.filter { $0 != second }, since: stopped)
        stopping.wait()
        #expect(holders(lab, vip, among: cps) == [movedAgain?.0 ?? "?"])
        let third = try #require(movedAgain?.0, "the address did not leave \(second) after it powered off")
        print("MEASURED vip: lab stop \(second) → address on \(third) after \(String(format: "%.2f", movedAgain?.1 ?? -1)) s")
        #expect((movedAgain?.1 ?? 99) <= 3.0)
        Thread.sleep(forTimeInterval: 3)
        try lab.start(host: second)
        // No flapping: the returning host stays backup.
        var seen: Set<String> = []
        for _ in 0..<20 {
            seen.formUnion(holders(lab, vip, among: cps))
            usleep(500_000)
        }
        #expect(seen == [third], "holders while \(second) returned: \(seen.sorted())")
        let t3 = try hostTime(lab, "h4")
        try lab.run(in: "h4", ["sh", "-c", "systemctl stop capstan-lb-probe 2>/dev/null; true"])
        let lines = try readProbe(lab, "h4")
        for (what, from, to) in [("API server failed on \(holder)", t1, t2), ("lab stop \(second)", t2, t3)] {
            let w = failureWindow(lines, from: from, to: to)
            #expect(w.longest <= 3.0, "\(what): requests to the address failed for \(w.longest) s in a row")
            print("MEASURED vip (requests to \(vip) from h4) \(what): \(w.failed) of \(w.total) requests failed, first to last failure \(String(format: "%.2f", w.seconds)) s, longest run \(String(format: "%.2f", w.longest)) s: \(w.detail)")
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// The benchmark of `bench/lb/run.sh` (not a test: it runs only when CAPSTAN_LB_BENCH names the number
    /// of stops): API servers stopped one after another, node-local through the worker's balancer, then
    /// vip through the address; writes a markdown table to CAPSTAN_LB_BENCH_OUT.
    @Test("benchmark: failover window over repeated API server stops, node-local and vip",
          .enabled(if: ProcessInfo.processInfo.environment["CAPSTAN_LB_BENCH"] != nil, "run by bench/lb/run.sh"))
    func benchmark() throws {
        let env = ProcessInfo.processInfo.environment
        let stops = Int(env["CAPSTAN_LB_BENCH"] ?? "") ?? 10
        let lab = try IntegrationLab.lab()
        let cps = ["h1", "h2", "h3"]
        var rows: [String] = []
        for vip in [false, true] {
            try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
            let (inventory, _) = try writeInventory(lab, vip: vip)
            let apply = try IntegrationLab.capstan(["apply", "-i", inventory])
            try #require(apply.succeeded, "\(apply.all)")
            Thread.sleep(forTimeInterval: 3)
            let target = vip ? Self.virtualIP(lab) : "127.0.0.1"
            try startProbe(lab, on: "h4", seconds: stops * 12 + 20, target: target)
            Thread.sleep(forTimeInterval: 2)
            var windows: [Double] = [], moves: [Double] = [], failedTotal = 0, total = 0
            for i in 0..<stops {
                let host = vip ? (holders(lab, target, among: cps).first ?? cps[i % 3]) : cps[i % 3]
                let from = try hostTime(lab, "h4")
                let failedAt = Date()
                try lab.run(in: host, ["systemctl", "stop", "kube-apiserver"])
                if vip {
                    let moved = waitForMove(lab, target, from: host, among: cps, since: failedAt)
                    moves.append(moved?.1 ?? 99)
                    Thread.sleep(forTimeInterval: 1)
                } else {
                    Thread.sleep(forTimeInterval: 3)
                }
                try lab.run(in: host, ["systemctl", "start", "kube-apiserver"])
                Thread.sleep(forTimeInterval: 5)
                let to = try hostTime(lab, "h4")
                let w = failureWindow(try readProbe(lab, "h4"), from: from, to: to)
                windows.append(vip ? w.longest : w.seconds)
                failedTotal += w.failed
                total += w.total
                print("BENCH \(vip ? "vip" : "node-local") stop \(i + 1) (\(host)): \(w.failed) of \(w.total) failed, window \(String(format: "%.2f", vip ? w.longest : w.seconds)) s\(vip ? String(format: ", address moved after %.2f s", moves.last ?? -1) : "")")
            }
            try lab.run(in: "h4", ["sh", "-c", "systemctl stop capstan-lb-probe 2>/dev/null; true"])
            let f = { (x: Double) in String(format: "%.2f s", x) }
            rows.append("| \(vip ? "vip (requests to the address)" : "node-local (requests to 127.0.0.1:6443 on the worker)") | \(stops) | \(f(Self.median(windows))) | \(f(windows.max() ?? 0)) | \(vip ? "\(f(Self.median(moves))) / \(f(moves.max() ?? 0))" : "–") | \(failedTotal) of \(total) |")
        }
        let table = (["| balancer | API server stops | failure window, median | worst | address moved after, median / worst | failed requests |",
                      "|---|---|---|---|---|---|"] + rows).joined(separator: "\n")
        print(table)
        if let out = env["CAPSTAN_LB_BENCH_OUT"] { try (table + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }
}
