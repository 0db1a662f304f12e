import Foundation
import Inventory
import Hosts
import Templates

/// What `node remove` and `reset` do on the host itself: stop and disable every service Capstan runs
/// there and take away what Capstan placed — units, the binaries its checksum record lists, configuration,
/// certificates and kubeconfigs, the CNI configuration, the registry `hosts.toml` directories it wrote,
/// the pod routes and masquerade rule, the cluster record. etcd's data directory is moved aside (deleted only with `purgeEtcdData`); local backup copies in
/// `/var/backups/etcd` stay. A reset also removes containerd's containers (and with `removeImages` its
/// images), kube-proxy's iptables chains, mounts under `/var/lib/kubelet` and the pod bridge.
///
/// One script both lists (plan) and removes (apply), so the plan names exactly what goes. It only removes,
/// so a run killed anywhere is finished by running it again.
public enum NodeTeardown {
    public static let phaseName = "node-teardown"

    public struct Options: Sendable, Equatable {
        /// Delete etcd's data directory instead of moving it aside.
        public var purgeEtcdData: Bool
        /// `reset`: also containers, kube-proxy's rules, kubelet mounts and the pod bridge.
        public var reset: Bool
        /// `reset --remove-images`: also containerd's images (a re-apply pulls or imports them again).
        public var removeImages: Bool

        public init(purgeEtcdData: Bool = false, reset: Bool = false, removeImages: Bool = false) {
            self.purgeEtcdData = purgeEtcdData
            self.reset = reset
            self.removeImages = removeImages
        }
    }

    /// Services in the order they stop: the kubelet first (so it restarts nothing), etcd after the API
    /// server, containerd last.
    public static let units = [
        "kubelet.service", "kube-proxy.service", "kube-scheduler.service", "kube-controller-manager.service", "kube-apiserver.service",
        "capstan-pod-network.service", "etcd-backup.timer", "etcd-backup.service", "capstan-certs-rotate.timer",
        "capstan-certs-rotate.service", "etcd.service", "containerd.service",
    ]
    /// Files and directories Capstan writes besides the binaries (those come from the checksum record).
    public static let paths = [
        "/etc/kubernetes", "/etc/etcd", "/etc/cni/net.d/10-capstan.conflist", "/etc/crictl.yaml", "/etc/containerd/config.toml",
        "/etc/modules-load.d/k8s.conf", "/etc/sysctl.d/k8s.conf", "/etc/capstan", "/usr/local/lib/capstan",
        "/var/lib/kubelet/config.yaml", "/var/lib/kube-proxy", "/var/lib/capstan/etcd-backup",
        EtcdBackupContext.defaultMetricsFile, "/var/log/kubernetes",
    ]
    /// Debian-packaged services Capstan configures (the API balancer and VIP): stopped, disabled and their
    /// configuration removed when it is Capstan's; the packages stay installed.
    public static let packagedServices = [("haproxy.service", "/etc/haproxy/haproxy.cfg"), ("keepalived.service", "/etc/keepalived/keepalived.conf")]
    public static let etcdDataDirectory = "/var/lib/etcd"
    public static let checksumRecord = HostSurvey.checksumRecord

    /// The script; `$1` is `list` (print what is there, change nothing) or `remove`. Output lines:
    /// `unit NAME`, `path PATH`, `etcd-data PATH -> WHERE`, `routes N`, `masquerade N`, `containers N`,
    /// `images N`, `kube-chains N`, `mounts N`, `bridge NAME`, and `kept PATH` for what stays on purpose.
    public static func script(_ options: Options, stamp: String) -> String {
        let unitFiles = units.map { "/etc/systemd/system/\($0)" }
        return """
        set -u
        mode="$1"
        say() { printf '%s\\n' "$*"; }
        doing() { [ "$mode" = remove ]; }
        units="\(units.joined(separator: " "))"
        for u in $units; do
          if [ -e "/etc/systemd/system/$u" ] || systemctl is-active --quiet "$u" 2>/dev/null; then
            say "unit $u"
            if doing; then systemctl disable --now "$u" >/dev/null 2>&1 || systemctl stop "$u" >/dev/null 2>&1 || true; fi
          fi
        done
        \(packagedServices.map { unit, config in
            "if [ -f \(config) ] && grep -q 'Managed by Capstan' \(config); then say \"unit \(unit)\"; say \"path \(config)\"; "
            + "if doing; then systemctl disable --now \(unit) >/dev/null 2>&1 || true; rm -f \(config); fi; fi"
        }.joined(separator: "\n"))
        \(options.reset ? resetContainers(removeImages: options.removeImages) : "")
        for f in \(unitFiles.joined(separator: " ")); do
          for p in "$f" "$f.d"; do
            if [ -e "$p" ]; then say "path $p"; if doing; then rm -rf -- "$p"; fi; fi
          done
        done
        if doing; then systemctl daemon-reload 2>/dev/null || true; systemctl reset-failed 2>/dev/null || true; fi
        if [ -f \(checksumRecord) ]; then
          while read -r sum identity path; do
            if [ -e "$path" ]; then say "path $path"; if doing; then rm -f -- "$path"; fi; fi
          done < \(checksumRecord)
        fi
        for p in \(paths.joined(separator: " ")); do
          if [ -e "$p" ]; then say "path $p"; if doing; then rm -rf -- "$p"; fi; fi
        done
        for d in /etc/containerd/certs.d/*/; do
          if [ -f "${d}hosts.toml" ] && grep -q 'Managed by Capstan' "${d}hosts.toml"; then say "path ${d%/}"; if doing; then rm -rf -- "${d%/}"; fi; fi
        done
        if [ -d \(etcdDataDirectory) ] && [ -n "$(ls -A \(etcdDataDirectory) 2>/dev/null)" ]; then
        \(options.purgeEtcdData
            ? "  say \"etcd-data \(etcdDataDirectory) -> deleted\"; if doing; then rm -rf -- \(etcdDataDirectory); fi"
            : "  say \"etcd-data \(etcdDataDirectory) -> \(etcdDataDirectory).removed-\(stamp)\"; if doing; then mv \(etcdDataDirectory) \(etcdDataDirectory).removed-\(stamp); fi")
        fi
        n=$(ip -4 route show proto 211 2>/dev/null | wc -l)
        if [ "$n" -gt 0 ]; then say "routes $n"; if doing; then ip route flush proto 211; fi; fi
        n=$(iptables -w -t nat -S POSTROUTING 2>/dev/null | grep -cF 'capstan pod egress')
        if [ "$n" -gt 0 ]; then
          say "masquerade $n"
          if doing; then iptables -w -t nat -S POSTROUTING | grep -F 'capstan pod egress' | sed 's/^-A /-D /' | while read -r rule; do eval iptables -w -t nat "$rule"; done; fi
        fi
        \(options.reset ? resetNetwork : "")
        if [ -f \(checksumRecord) ]; then say "path \(checksumRecord)"; if doing; then rm -f \(checksumRecord); fi; fi
        [ -d /var/backups/etcd ] && say "kept /var/backups/etcd"
        exit 0
        """
    }

    /// Containers (tasks killed first) and, on request, images of containerd's Kubernetes namespace; run
    /// while containerd still answers, before it stops.
    static func resetContainers(removeImages: Bool) -> String {
        """
        if command -v ctr >/dev/null 2>&1 && [ -S /run/containerd/containerd.sock ]; then
          n=$(ctr -n k8s.io containers ls -q 2>/dev/null | wc -l)
          if [ "$n" -gt 0 ]; then
            say "containers $n"
            if doing; then
              for c in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1; ctr -n k8s.io tasks delete -f "$c" >/dev/null 2>&1; done
              ctr -n k8s.io containers ls -q | xargs -r ctr -n k8s.io containers rm >/dev/null 2>&1
            fi
          fi
        \(removeImages ? """
          n=$(ctr -n k8s.io images ls -q 2>/dev/null | wc -l)
          if [ "$n" -gt 0 ]; then say "images $n"; if doing; then ctr -n k8s.io images ls -q | xargs -r ctr -n k8s.io images rm >/dev/null 2>&1; fi; fi
        """ : "")
        fi
        """
    }

    /// kube-proxy's chains, kubelet mounts, the pod bridge and kubelet's directory.
    static let resetNetwork = """
        for table in filter nat mangle; do
          n=$(iptables -w -t $table -S 2>/dev/null | grep -c -- '-N KUBE-')
          if [ "$n" -gt 0 ]; then
            say "kube-chains $table $n"
            if doing; then
              iptables -w -t $table -S | grep -E '^-A .*-j KUBE-' | sed 's/^-A /-D /' | while read -r rule; do eval iptables -w -t $table "$rule"; done
              for c in $(iptables -w -t $table -S | sed -n 's/^-N \\(KUBE-[^ ]*\\).*/\\1/p'); do iptables -w -t $table -F "$c"; done
              for c in $(iptables -w -t $table -S | sed -n 's/^-N \\(KUBE-[^ ]*\\).*/\\1/p'); do iptables -w -t $table -X "$c"; done
            fi
          fi
        done
        n=$(awk '$2 ~ "^/var/lib/kubelet/" {print $2}' /proc/mounts | wc -l)
        if [ "$n" -gt 0 ]; then say "mounts $n"; if doing; then awk '$2 ~ "^/var/lib/kubelet/" {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l; fi; fi
        if [ -d /var/lib/kubelet ]; then say "path /var/lib/kubelet"; if doing; then rm -rf /var/lib/kubelet; fi; fi
        if ip link show cni0 >/dev/null 2>&1; then say "bridge cni0"; if doing; then ip link delete cni0; fi; fi
        if [ -d /var/lib/cni ]; then say "path /var/lib/cni"; if doing; then rm -rf /var/lib/cni; fi; fi
        """

    /// One host's teardown as the script lists it.
    public struct Found: Sendable, Equatable {
        public var lines: [String]
        public var isEmpty: Bool { lines.allSatisfy { $0.hasPrefix("kept ") } }
        /// One line: the units by name, how many files and directories, and the rest as listed.
        public var summary: String {
            let removed = lines.filter { !$0.hasPrefix("kept ") }
            guard !removed.isEmpty else { return "nothing of Capstan's is left" }
            let units = removed.filter { $0.hasPrefix("unit ") }.map { String($0.dropFirst(5)) }
            let paths = removed.filter { $0.hasPrefix("path ") }.count
            var parts: [String] = []
            if !units.isEmpty { parts.append("stop and disable \(units.joined(separator: ", "))") }
            if paths > 0 { parts.append("remove \(paths) file(s) and directories") }
            parts += removed.filter { !$0.hasPrefix("unit ") && !$0.hasPrefix("path ") }
            parts += lines.filter { $0.hasPrefix("kept ") }
            return parts.joined(separator: "; ")
        }
        /// Every line, for the plan's detail.
        public var detail: String { lines.joined(separator: "\n") }
    }

    /// What the teardown would remove on the host behind `connection` (read-only).
    public static func list(_ connection: any CommandRunner, _ host: String, _ options: Options, stamp: String) async throws -> Found {
        let result = try await connection.run(ShellCommand("sh", "-c", script(options, stamp: stamp), "capstan-teardown", "list"))
        guard result.succeeded else {
            throw HostError.commandFailed(host: host, command: "list what Capstan placed", exitStatus: result.exitStatus, stderr: result.stderrText)
        }
        return Found(lines: result.stdoutText.split(separator: "\n").map(String.init).filter { !$0.isEmpty })
    }

    /// The phase: on each host, list, then remove as one recorded change (nothing when nothing is left),
    /// which lists again and fails when anything is still there.
    public static func phase(hosts: [String], options: Options, stamp: String, next: String) -> Phase {
        Phase(phaseName, hosts: hosts, next: next) { ctx, host in
            let found = try await list(try await ctx.reader(host), host, options, stamp: stamp)
            guard !found.isEmpty else {
                await ctx.emit(.message, host: host, "nothing of Capstan's is left on \(host)")
                return
            }
            try await ctx.change(host, "tear down: \(found.summary)", diff: found.detail) { c in
                let result = try await c.run(ShellCommand("sh", "-c", script(options, stamp: stamp), "capstan-teardown", "remove"),
                                             options: RunOptions(timeoutSeconds: 300))
                guard result.succeeded else {
                    throw HostError.commandFailed(host: host, command: "tear down Capstan's services and files", exitStatus: result.exitStatus, stderr: result.stderrText)
                }
                let after = try await list(c, host, options, stamp: stamp)
                guard after.isEmpty else {
                    throw WorkflowError.hostFailed(host: host, what: "tear down", reason: "still there after the teardown: \(after.summary)",
                                                   next: "see why on \(host) (`journalctl -xe`), then run the command again")
                }
            }
        }
    }
}
