import Foundation
import Testing
import TestSupport
import Lab

/// `capstan apply` from bare lab hosts to a running cluster: stacked etcd 3.5.1, real containerd and runc
/// (Debian's), and the Kubernetes components as Capstan's stand-ins (`Tests/Standins/k8s-standin.py`,
/// which check their certificates, reach etcd with the client certificate and serve /livez over TLS),
/// or real release binaries when `CAPSTAN_K8S_ARTIFACTS` names a directory of them. systemd on the
/// hosts, ctr, curl and openssl on this machine are the independent witnesses.
@Suite("Kubernetes on lab hosts through capstan apply/plan", .serialized, .enabled(if: geteuid() == 0, "lab tests need root"), .tags(.lab))
struct KubernetesLabTests {
    static let cp = ["control-plane", "etcd"]
    static let roles: [Int: [String]] = [1: cp, 2: cp, 3: cp + ["worker"]]
    static let hosts = ["h1", "h2", "h3"]
    static let controlPlaneUnits = ["etcd", "containerd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]

    func scenario(_ name: String) -> String {
        Scratch.directory("k8s-lab") + "/" + name
    }

    func inventory(_ lab: Lab, _ name: String) throws -> (path: String, state: String) {
        let dir = scenario(name)
        let path = try IntegrationLab.writeInventory(lab, directory: dir, cluster: "k8slab", version: "3.5.1", roles: Self.roles)
        return (path, dir + "/.capstan/k8slab")
    }

    func activeUnits(_ lab: Lab, _ host: String) throws -> [String: String] {
        let r = try lab.run(in: host, ["systemctl", "is-active"] + Self.controlPlaneUnits.map { $0 + ".service" })
        let states = r.stdout.split(separator: "\n").map(String.init)
        return Dictionary(uniqueKeysWithValues: zip(Self.controlPlaneUnits, states + Array(repeating: "?", count: max(0, Self.controlPlaneUnits.count - states.count))))
    }

    @Test("bare hosts → etcd, containerd, API servers, controller managers, schedulers, kubelets and kube-proxies active; ctr answers; /livez over TLS with the cluster CA; a no-op re-apply restarts nothing and plan shows no action")
    func bootstrapAndNoOp() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (inventory, state) = try inventory(lab, "bootstrap")

        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(first.succeeded, "apply failed: \(first.all)")
        print("MEASURED bare → all units active (3 hosts): \(String(format: "%.2f", first.seconds)) s")
        #expect(first.all.contains("warning: crictl"), "the missing crictl is not announced")

        // Peer transfer: each binary left this machine for one host; the other two fetched it from a host that
        // held it (and checked its SHA-256 there). No server outlives its phase.
        let lines = first.all.split(separator: "\n")
        #expect(first.stdout.contains("from peers") && !first.all.contains("fell back"), "\(lines.filter { $0.contains("apply: made") })")
        for path in ["/usr/local/bin/containerd", "/usr/local/sbin/runc", "/opt/cni/bin/bridge", "/usr/local/bin/etcd", "/usr/local/bin/kubelet"] {
            let sent = lines.filter { $0.contains("] ") && $0.contains(" \(path): sent ") }
            let fetched = lines.filter { $0.contains("install \(path) (") && $0.contains(" from h") }
            #expect(sent.count == 1 && fetched.count == 2, "\(path): sent \(sent), fetched \(fetched)")
        }
        for host in Self.hosts {
            let left = try lab.run(in: host, ["sh", "-c", "ls -A /run/capstan-peer 2>/dev/null; pgrep -f 'IO::Socket::[I]P' || true"])
            #expect(left.stdout.isEmpty, "left on \(host): \(left.stdout)")
        }

        for host in Self.hosts {
            let units = try activeUnits(lab, host)
            for unit in Self.controlPlaneUnits { #expect(units[unit] == "active", "\(unit) on \(host): \(units[unit] ?? "?")") }
            // Real containerd with real runc: the daemon answers on its socket and knows its runtime.
            let ctr = try lab.run(in: host, ["/usr/local/bin/ctr", "version"])
            #expect(ctr.succeeded && ctr.stdout.contains("Server:") && ctr.stdout.contains("1.6.20"), "ctr on \(host): \(ctr.stdout)\(ctr.stderr)")
            let runc = try lab.run(in: host, ["/usr/local/sbin/runc", "--version"])
            #expect(runc.stdout.contains("runc version 1.1.5"), "runc on \(host): \(runc.stdout)")
            let crictl = try lab.run(in: host, ["cat", "/etc/crictl.yaml"])
            #expect(crictl.stdout.contains("unix:///run/containerd/containerd.sock"), "\(crictl.stdout)")
            let cni = try lab.run(in: host, ["test", "-x", "/opt/cni/bin/bridge"])
            #expect(cni.succeeded, "no CNI bridge plugin on \(host)")
        }

        // Each API server's serving certificate verifies against the cluster CA for the address clients use.
        for n in 1...3 {
            let address = lab.layout.hostAddress(n)
            let livez = try IntegrationLab.run("/usr/bin/curl", ["-fsS", "--max-time", "5", "--cacert", state + "/pki/ca.crt", "https://\(address):6443/livez"])
            #expect(livez.succeeded && livez.stdout.contains("ok"), "livez of h\(n): \(livez.all)")
            let sclient = try IntegrationLab.run("/bin/sh", ["-c", "openssl s_client -connect \(address):6443 -CAfile \(state)/pki/ca.crt -verify_return_error -brief </dev/null 2>&1"])
            #expect(sclient.stdout.contains("Verification: OK"), "openssl s_client h\(n): \(sclient.stdout)")
            // A different CA must not verify it (the check above can fail).
            let wrong = try IntegrationLab.run("/usr/bin/curl", ["-fsS", "--max-time", "5", "--cacert", state + "/pki/etcd/ca.crt", "https://\(address):6443/livez"])
            #expect(!wrong.succeeded)
            // The kubelet serves 10250 with the certificate Capstan issued for this node's address, and the API
            // servers verify kubelets against the cluster CA.
            let kubelet = try IntegrationLab.run("/bin/sh", ["-c", "openssl s_client -connect \(address):10250 -CAfile \(state)/pki/ca.crt -verify_ip \(address) -verify_return_error -brief </dev/null 2>&1"])
            #expect(kubelet.stdout.contains("Verification: OK"), "kubelet serving certificate of h\(n): \(kubelet.stdout)")
            let otherAddress = try IntegrationLab.run("/bin/sh", ["-c", "openssl s_client -connect \(address):10250 -CAfile \(state)/pki/ca.crt -verify_ip 192.0.2.1 -verify_return_error -brief </dev/null 2>&1"])
            #expect(!otherAddress.stdout.contains("Verification: OK"), "the kubelet certificate of h\(n) verifies for an address it does not carry")
            let unit = try lab.run(in: "h\(n)", ["cat", "/etc/systemd/system/kube-apiserver.service"]).stdout
            #expect(unit.contains("--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt"), "\(unit)")
            let modes = try lab.run(in: "h\(n)", ["stat", "-c", "%a %U", "/etc/kubernetes/pki/kubelet-server.key", "/etc/kubernetes/pki/kubelet-server.crt"]).stdout
            #expect(modes == "600 root\n644 root\n", "kubelet serving pair modes on h\(n): \(modes)")
        }

        let before = try Self.hosts.flatMap { host in try Self.controlPlaneUnits.map { try IntegrationLab.unitStartStamp(lab, host, $0 + ".service") } }
        let again = try IntegrationLab.capstan(["apply", "-i", inventory, "--output", "json"])
        #expect(again.succeeded, "\(again.all)")
        print("MEASURED no-op re-apply (3 hosts): \(String(format: "%.2f", again.seconds)) s")
        let actionLines = again.stdout.split(separator: "\n").filter { $0.contains("\"kind\":\"action\"") }
        #expect(actionLines.isEmpty, "no-op apply acted: \(actionLines)")
        let after = try Self.hosts.flatMap { host in try Self.controlPlaneUnits.map { try IntegrationLab.unitStartStamp(lab, host, $0 + ".service") } }
        #expect(before == after, "a unit restarted on the no-op re-apply")
        #expect(!before.contains { $0.contains("ActiveEnterTimestampMonotonic=0") })

        let plan = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(plan.succeeded, "\(plan.all)")
        #expect(plan.stdout.contains("Hosts: up to date (no action planned)"), "\(plan.stdout)")
        let planJSON = try IntegrationLab.capstan(["plan", "-i", inventory, "--output", "json"])
        let document = (try? JSONSerialization.jsonObject(with: Data(planJSON.stdout.utf8))) as? [String: Any] ?? [:]
        let live = document["live"] as? [String: Any]
        #expect((live?["actions"] as? [Any])?.isEmpty == true, "\(planJSON.stdout)")
        #expect(document["offline"] as? Bool == false)

        // status sees the whole cluster: every unit active, each API server ready, each kubelet answering,
        // the soonest certificate a year out; a kubelet stopped on h3 is named in the verdict, exit 1.
        let status = try IntegrationLab.capstan(["status", "-i", inventory, "--output", "json"])
        let seen = (try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8))) as? [String: Any] ?? [:]
        #expect(status.succeeded && seen["healthy"] as? Bool == true, "\(status.all)")
        let services = seen["services"] as? [[String: Any]] ?? []
        #expect(services.count == Self.hosts.count, "\(status.stdout)")
        for host in services {
            let units = Dictionary(((host["units"] as? [[String: Any]]) ?? []).map { ($0["name"] as? String ?? "", $0["state"] as? String ?? "") }, uniquingKeysWith: { a, _ in a })
            for unit in Self.controlPlaneUnits { #expect(units[unit + ".service"] == "active", "\(host["host"] ?? ""): \(units)") }
            #expect((host["apiServer"] as? [String: Any])?["ok"] as? Bool == true, "\(host)")
            #expect((host["kubelet"] as? [String: Any])?["ok"] as? Bool == true, "\(host)")
        }
        let certificates = seen["certificates"] as? [String: [String: Any]] ?? [:]
        #expect(Set(certificates.keys) == Set(Self.hosts) && certificates.values.allSatisfy { ($0["daysLeft"] as? Int ?? 0) > 300 }, "\(certificates)")
        try lab.run(in: "h3", ["systemctl", "stop", "kubelet.service"])
        let stopped = try IntegrationLab.capstan(["status", "-i", inventory])
        try lab.run(in: "h3", ["systemctl", "start", "kubelet.service"])
        #expect(stopped.status == 1, "\(stopped.all)")
        let verdict = stopped.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(verdict.hasPrefix("cluster k8slab: UNHEALTHY: ") && verdict.contains("h3: kubelet.service is inactive")
                && verdict.contains("h3: the kubelet does not answer") && !verdict.contains("h1") && !verdict.contains("h2"), "\(stopped.stdout)")
    }

    @Test("plan of a changed kube-proxy config on one host lists exactly that file with a diff and its restart")
    func planShowsDrift() throws {
        let lab = try IntegrationLab.lab()
        let (inventory, state) = try inventory(lab, "bootstrap")
        let bootstrap = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(bootstrap.succeeded, "\(bootstrap.all)")
        let path = "/var/lib/kube-proxy/config.conf"
        try lab.run(in: "h2", ["sh", "-c", "echo '# edited by hand' >> \(path)"])
        let plan = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(plan.succeeded, "\(plan.all)")
        #expect(plan.stdout.contains("[h2] update \(path)"), "\(plan.stdout)")
        #expect(plan.stdout.contains("-# edited by hand"), "\(plan.stdout)")
        #expect(plan.stdout.contains("[h2] systemctl restart kube-proxy.service"), "\(plan.stdout)")
        #expect(!plan.stdout.contains("[h1] update") && !plan.stdout.contains("[h3] update"), "\(plan.stdout)")
        let fix = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(fix.succeeded)

        // Right content, loosened mode: the survey's stat sees it on the real host; plan names it, apply sets it back.
        let key = "/etc/kubernetes/pki/apiserver.key"
        try lab.run(in: "h3", ["chmod", "0644", key])
        let modePlan = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(modePlan.stdout.contains("[h3] set \(key) to mode 600 root:root (was mode 644 root:root)"), "\(modePlan.stdout)")
        let modeFix = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(modeFix.succeeded, "\(modeFix.all)")
        #expect(try lab.run(in: "h3", ["stat", "-c", "%a", key]).stdout.hasPrefix("600"))
        let quiet = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(quiet.stdout.contains("made 0 change(s)"), "\(quiet.stdout)")

        // The same run on a terminal: each phase opens (▸) and closes (✓) with its hosts' final lines, the
        // live block above is erased in place (ESC[J), no timestamped log lines, and the summary at the end.
        let screen = try IntegrationLab.capstanOnTerminal(["apply", "-i", inventory])
        #expect(screen.status == 0, "\(screen.stdout)")
        #expect(screen.stdout.contains("▸ etcd-health") && screen.stdout.contains("✓ etcd-health"), "\(screen.stdout)")
        #expect(screen.stdout.contains("✓ node-kubelet"), "\(screen.stdout)")
        #expect(screen.stdout.contains("\u{1B}[J"), "the live block is never redrawn in place")
        #expect(!screen.stdout.contains("Z node-kubelet:"), "timestamped lines on a terminal: \(screen.stdout)")
        #expect(screen.stdout.contains("made 0 change(s)"), "\(screen.stdout)")

        // spec.componentConfig, spec.controlPlane.podSecurity and .oidc: plan lists each value with Capstan's it replaces
        // and each node's two files; apply restarts the kubelets and kube-proxies, which decode the merged files
        // strictly at start, and the API servers one at a time, which load the AdmissionConfiguration (a field any
        // of them refused would stop the run at that host's health gate); the inventory without them puts the
        // templates' files back and drops the admission flag.
        let tuned = (inventory as NSString).deletingLastPathComponent + "/tuned.yaml"
        try (try String(contentsOfFile: inventory, encoding: .utf8).replacingOccurrences(
                of: "    mode: self-managed\n", with: "    mode: self-managed\n    podSecurity: {enforce: baseline, warn: restricted}\n"
                    + "    oidc: {issuerURL: https://sso.example.com, clientID: kubernetes, caFile: \(state)/pki/ca.crt}\n")
             + "  componentConfig:\n    kubelet: {maxPods: 150, podPidsLimit: 8192}\n    kube-proxy: {conntrack: {tcpEstablishedTimeout: 2h}}\n")
            .write(toFile: tuned, atomically: true, encoding: .utf8)
        let tunedPlan = try IntegrationLab.capstan(["plan", "-i", tuned])
        #expect(tunedPlan.stdout.contains("kubelet podPidsLimit: 8192  (replaces Capstan's 4096)"), "\(tunedPlan.stdout)")
        for host in Self.hosts {
            #expect(tunedPlan.stdout.contains("[\(host)] update /var/lib/kubelet/config.yaml"), "\(tunedPlan.stdout)")
            #expect(tunedPlan.stdout.contains("[\(host)] update \(path)"), "\(tunedPlan.stdout)")
        }
        let kubeletBefore = try IntegrationLab.unitStartStamp(lab, "h3", "kubelet.service")
        let apiBefore = try IntegrationLab.unitStartStamp(lab, "h3", "kube-apiserver.service")
        let tunedApply = try IntegrationLab.capstan(["apply", "-i", tuned])
        #expect(tunedApply.succeeded, "\(tunedApply.all)")
        let onHost = try lab.run(in: "h3", ["cat", "/var/lib/kubelet/config.yaml"]).stdout
        #expect(onHost.contains("maxPods: 150\n") && onHost.contains("podPidsLimit: 8192\n") && !onHost.contains("4096"), "\(onHost)")
        #expect(try lab.run(in: "h3", ["cat", path]).stdout.contains("tcpEstablishedTimeout: 2h"))
        #expect(try IntegrationLab.unitStartStamp(lab, "h3", "kubelet.service") != kubeletBefore, "the kubelet kept its old configuration")
        #expect(try IntegrationLab.unitStartStamp(lab, "h3", "kube-apiserver.service") != apiBefore, "the API server kept its admission configuration")
        #expect(try lab.run(in: "h3", ["cat", "/etc/systemd/system/kube-apiserver.service"]).stdout.contains("--admission-control-config-file=/etc/kubernetes/admission-config.yaml"))
        #expect(try lab.run(in: "h1", ["cat", "/etc/kubernetes/admission-config.yaml"]).stdout.contains("enforce: \"baseline\""))
        let oidcUnit = try lab.run(in: "h2", ["cat", "/etc/systemd/system/kube-apiserver.service"]).stdout
        #expect(oidcUnit.contains("--oidc-issuer-url=https://sso.example.com") && oidcUnit.contains("--oidc-ca-file=/etc/kubernetes/pki/oidc-ca.crt"), "\(oidcUnit)")
        #expect(try lab.run(in: "h2", ["cat", "/etc/kubernetes/pki/oidc-ca.crt"]).stdout == (try String(contentsOfFile: state + "/pki/ca.crt", encoding: .utf8)))
        #expect(try IntegrationLab.capstan(["apply", "-i", tuned]).stdout.contains("made 0 change(s)"))
        let back = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(back.succeeded, "\(back.all)")
        #expect(try lab.run(in: "h3", ["cat", "/var/lib/kubelet/config.yaml"]).stdout.contains("podPidsLimit: 4096\n"))
        let plainUnit = try lab.run(in: "h3", ["cat", "/etc/systemd/system/kube-apiserver.service"]).stdout
        #expect(!plainUnit.contains("admission-control-config-file") && !plainUnit.contains("--oidc-"), "\(plainUnit)")
        #expect(back.stdout.contains("[h1] control-plane: remove /etc/kubernetes/admission-config.yaml (spec.controlPlane.podSecurity is no longer set)"), "\(back.stdout)")
        for host in Self.hosts {
            let gone = try lab.run(in: host, ["sh", "-c", "ls /etc/kubernetes/admission-config.yaml /etc/kubernetes/pki/oidc-ca.crt 2>/dev/null || true"]).stdout
            #expect(gone.isEmpty, "left on \(host) after the keys were removed: \(gone)")
        }
        #expect(try IntegrationLab.capstan(["apply", "-i", inventory]).stdout.contains("made 0 change(s)"))
    }

    @Test("a host that does not answer: plan names it, keeps the offline part and exits 1")
    func planWithHostDown() throws {
        let lab = try IntegrationLab.lab()
        let (inventory, _) = try inventory(lab, "bootstrap")
        try lab.stop(host: "h3")
        defer { try? lab.start(host: "h3") }
        let plan = try IntegrationLab.capstan(["plan", "-i", inventory])
        #expect(plan.status == 1 && plan.stderr.contains("h3 did not answer"), "\(plan.all)")
        #expect(plan.stdout.contains("Phases per host:"), "\(plan.stdout)")
        #expect(plan.stdout.contains("  h3: unreachable: "), "\(plan.stdout)")
        #expect(!plan.stdout.contains("  h1: unreachable"), "\(plan.stdout)")
    }

    @Test("with API servers running, one that refuses to start (its certificate removed at start) stops the rollout at that host; later hosts untouched")
    func rolloutStopsAtFailingHost() throws {
        let lab = try IntegrationLab.lab()
        try IntegrationLab.wipe(lab, hosts: lab.hosts.map(\.name))
        let (inventory, _) = try inventory(lab, "refusal")
        // From bare hosts no API server runs, so control-plane changes them all at once.
        let first = try IntegrationLab.capstan(["apply", "-i", inventory])
        #expect(first.status == 0, "\(first.all)")
        #expect(first.all.contains("nothing runs yet on h1, h2, h3: all of them at once"), "\(first.all)")
        // Each control-plane host loses its serving key, so each restarts its API server behind the health gate,
        // one host at a time now that they run. An operator's drop-in on h2 deletes the serving certificate
        // before each start: the stand-in (like the real kube-apiserver) exits because the file named by
        // --tls-cert-file is missing.
        for host in ["h1", "h2", "h3"] { try lab.run(in: host, ["rm", "-f", "/etc/kubernetes/pki/apiserver.key"]) }
        try lab.run(in: "h2", ["sh", "-c", "mkdir -p /etc/systemd/system/kube-apiserver.service.d && printf '[Service]\\nExecStartPre=/bin/rm -f /etc/kubernetes/pki/apiserver.crt\\n' > /etc/systemd/system/kube-apiserver.service.d/break.conf && systemctl daemon-reload"])
        defer { _ = try? lab.run(in: "h2", ["sh", "-c", "rm -rf /etc/systemd/system/kube-apiserver.service.d && systemctl daemon-reload"]) }
        let r = try IntegrationLab.capstan(["apply", "-i", inventory, "--health-timeout", "15"])
        #expect(r.status == 1, "\(r.all)")
        #expect(r.all.contains("control-plane"), "the failing phase is not named: \(r.all)")
        #expect(r.all.contains("the API server on h2 is not healthy"), "\(r.all)")
        #expect(!r.all.contains("all of them at once"), "\(r.all)")
        #expect(try lab.run(in: "h1", ["systemctl", "is-active", "kube-apiserver"]).stdout.hasPrefix("active"))
        #expect(try lab.run(in: "h1", ["test", "-e", "/etc/kubernetes/pki/apiserver.key"]).succeeded, "h1 was not rolled first")
        let h3 = try lab.run(in: "h3", ["test", "-e", "/etc/kubernetes/pki/apiserver.key"])
        #expect(!h3.succeeded, "h3 was changed after h2 failed")
    }
}
