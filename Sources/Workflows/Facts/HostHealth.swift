import Foundation
import Hosts
import Inventory
import Templates

/// `capstan status`'s per-host part, one command per host: the state of every Capstan unit installed
/// there, the API server's `/readyz` on control-plane hosts (verified against the cluster CA), the
/// kubelet's `/healthz` on nodes, and on etcd members the backup timer's last success (from the
/// textfile-collector metrics the timer writes). Read only.
public struct HostHealth: Sendable, Equatable, Codable {
    public struct Unit: Sendable, Equatable, Codable {
        public var name: String
        /// systemd's ActiveState: active, inactive, failed, activating, deactivating, reloading.
        public var state: String
        /// The host's roles call for this unit. One they no longer call for (etcd stopped on a host that
        /// left the member list, its unit file kept) is listed but not judged.
        public var expected: Bool = true

        /// Services a timer starts run and end: only `failed` is a problem there; everything else expected must be active.
        public var healthy: Bool {
            !expected || (HostHealth.triggeredServices.contains(name) ? state != "failed" : state == "active")
        }
    }

    public struct Probe: Sendable, Equatable, Codable {
        public var url: String
        public var ok: Bool
        /// The answer's first line, or curl's error.
        public var detail: String
    }

    public var host: String
    public var units: [Unit] = []
    public var apiServer: Probe?
    public var kubelet: Probe?
    /// The backup timer's last successful snapshot on this host.
    public var lastTimerBackup: Date?
    /// Set when the host could not be read; the rest is then empty.
    public var error: String?

    public var healthy: Bool {
        error == nil && units.allSatisfy(\.healthy) && apiServer?.ok != false && kubelet?.ok != false
    }

    /// One-shot services started by Capstan's timers (the timers themselves must be active).
    static let triggeredServices: Set<String> = ["etcd-backup.service", "capstan-certs-rotate.service"]

    /// The units `host`'s roles call for: etcd and its backup timer on etcd members, the control plane on
    /// control-plane hosts (self-managed), containerd, kubelet, kube-proxy and the pod-network unit on nodes.
    static func expectedUnits(_ host: HostSpec, inventory: Inventory) -> Set<String> {
        var units: Set<String> = []
        if inventory.isSelfManaged && host.has(.etcd) { units.formUnion(["etcd.service", "etcd-backup.timer", "etcd-backup.service"]) }
        if inventory.isSelfManaged && host.has(.controlPlane) {
            units.formUnion(["kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service"])
        }
        if WorkerWorkflow.nodes(inventory).contains(where: { $0.name == host.name }) {
            units.formUnion(["containerd.service", "kubelet.service", "kube-proxy.service", "capstan-pod-network.service"])
        }
        return units
    }

    /// What is probed on `host`: the API server's `/readyz` on control-plane hosts of a self-managed
    /// cluster (its secure port, the cluster CA), the kubelet's `/healthz` on nodes; each only where its
    /// unit is installed (after `apply --only etcd` there is nothing to probe yet).
    static func probes(_ host: HostSpec, inventory: Inventory) -> (api: String?, kubelet: String?) {
        let api = inventory.isSelfManaged && host.has(.controlPlane)
            ? HealthGate.url(host.clusterAddress, CertRotation.apiServerPort) + "/readyz" : nil
        let kubelet = WorkerWorkflow.nodes(inventory).contains { $0.name == host.name } ? "http://127.0.0.1:10248/healthz" : nil
        return (api, kubelet)
    }

    /// The command: the states of the units Capstan installs (`NodeTeardown.units`, via `systemctl show`),
    /// then one line per probe (`api|kubelet EXIT FIRST-LINE`),
    /// then the metrics file's last-success line.
    static func command(api: String?, kubelet: String?) -> ShellCommand {
        let script = #"""
            api=$1; kubelet=$2; metrics=$3; shift 3
            systemctl show --property=Id,LoadState,ActiveState "$@" 2>/dev/null
            echo
            installed() { [ "$(systemctl show --property=LoadState --value "$1" 2>/dev/null)" = loaded ]; }
            [ -n "$api" ] && installed kube-apiserver.service && { out=$(curl -fsS --max-time 5 --cacert /etc/kubernetes/pki/ca.crt "$api" 2>&1); printf 'api %s %s\n' "$?" "$(printf '%s' "$out" | head -n 1)"; }
            [ -n "$kubelet" ] && installed kubelet.service && { out=$(curl -fsS --max-time 5 "$kubelet" 2>&1); printf 'kubelet %s %s\n' "$?" "$(printf '%s' "$out" | head -n 1)"; }
            [ -r "$metrics" ] && grep '^capstan_etcd_backup_last_success_timestamp_seconds ' "$metrics" | sed 's/^/metric /'
            exit 0
            """#
        return ShellCommand(["sh", "-c", script, "sh", api ?? "", kubelet ?? "", EtcdBackupContext.defaultMetricsFile] + NodeTeardown.units)
    }

    /// Reads the command's output.
    static func parse(_ output: String, host: String, api: String?, kubelet: String?) -> HostHealth {
        var health = HostHealth(host: host)
        var fields: [String: String] = [:]
        func flush() {
            if let id = fields["Id"], fields["LoadState"] == "loaded", let state = fields["ActiveState"] {
                health.units.append(Unit(name: id, state: state))
            }
            fields = [:]
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.isEmpty { flush(); continue }
            if let eq = line.firstIndex(of: "="), !line.hasPrefix("api "), !line.hasPrefix("kubelet "), !line.hasPrefix("metric ") {
                fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
                continue
            }
            let parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2 else { continue }
            let detail = parts.count > 2 ? parts[2] : ""
            switch parts[0] {
            case "api": if let api { health.apiServer = Probe(url: api, ok: parts[1] == "0", detail: detail) }
            case "kubelet": if let kubelet { health.kubelet = Probe(url: kubelet, ok: parts[1] == "0", detail: detail) }
            case "metric": if let seconds = Double(parts.last ?? ""), seconds > 0 { health.lastTimerBackup = Date(timeIntervalSince1970: seconds) }
            default: break
            }
        }
        flush()
        health.units.sort { $0.name < $1.name }
        return health
    }

    /// Every host of `hosts` in parallel; a host that cannot be read carries the reason.
    public static func gather(inventory: Inventory, hosts: [String], in ctx: WorkflowContext) async -> [HostHealth] {
        let outcomes = await FanOut.run(hosts, name: { $0 }) { name -> HostHealth in
            guard let spec = inventory.host(named: name) else { throw WorkflowError.unknownHost(name) }
            let (api, kubelet) = probes(spec, inventory: inventory)
            let result = try await ctx.reader(name).run(command(api: api, kubelet: kubelet), options: RunOptions(timeoutSeconds: 30))
            guard result.succeeded else { throw WorkflowError.hostFailed(host: name, what: "read its services", reason: result.stderrText, next: "") }
            var health = parse(result.stdoutText, host: name, api: api, kubelet: kubelet)
            let expected = expectedUnits(spec, inventory: inventory)
            for i in health.units.indices { health.units[i].expected = expected.contains(health.units[i].name) }
            return health
        }
        return outcomes.map { $0.value ?? HostHealth(host: $0.host, error: $0.error.map { "\($0)" } ?? "no answer") }
    }
}
