import Foundation
import Hosts
import Inventory
import PKI

/// The health gate after each restart of a rotation: a host is done only when every restarted
/// service answers, so a bad certificate stops the rollout at the host that received it.
extension CertRotation {
    static let apiServerPort = 6443

    /// Tries `probe` until it answers nil (healthy) or `timeout` passes; the last answer is the reason.
    static func poll(_ ctx: WorkflowContext, host: String, what: String, timeout: Double, next: String,
                     _ probe: () async -> String?) async throws {
        let start = ctx.now()
        var last = "nothing read yet"
        while true {
            guard let why = await probe() else { return }
            last = why
            if ctx.now().timeIntervalSince(start) >= timeout { break }
            await EtcdWorkflow.pause(1)
        }
        throw WorkflowError.hostFailed(host: host, what: what, reason: "not healthy after \(Int(timeout)) s: \(last)", next: next)
    }

    /// Extracts a kubeconfig's server, CA and client pair into a private temporary directory and asks the
    /// server's `/livez` with them: the same handshake the component makes, so a CA the server does not
    /// trust (or a server certificate the kubeconfig does not trust) fails here.
    static let kubeconfigProbeScript = """
        f=$1
        d=$(mktemp -d) || exit 1
        trap 'rm -rf "$d"' EXIT
        v() { sed -n "s/^ *$1: *//p" "$f" | tr -d '"' | head -n 1; }
        server=$(v server)
        [ -n "$server" ] || { echo "$f: no server" >&2; exit 2; }
        v certificate-authority-data | base64 -d > "$d/ca" && v client-certificate-data | base64 -d > "$d/crt" \
          && (umask 077; v client-key-data | base64 -d > "$d/key") || { echo "$f: credentials not readable" >&2; exit 2; }
        curl -fsS --max-time 5 --cacert "$d/ca" --cert "$d/crt" --key "$d/key" "$server/livez" >/dev/null
        """

    /// The probe `capstan upgrade` gates `unit` on (the unit active and its /healthz answering 200);
    /// nil for etcd and the API server, which have their own gates.
    static func healthProbe(_ unit: CertConsumer) -> ComponentProbe? {
        (ComponentProbe.controlPlane + ComponentProbe.node).first { $0.unit == unit.unit }
    }

    /// Waits until `unit` on `host` is healthy after a restart: etcd healthy and serving the state's
    /// certificate; the API server answering /livez and /readyz and serving `apiServerCertificate`; the
    /// kubelet, kube-proxy, controller manager and scheduler active and answering their /healthz
    /// (`ComponentProbe`, shared with the upgrade gates: 10248, 10256, and over TLS 10257, 10259 with the
    /// self-signed serving certificate the templates leave them), the last two also with their kubeconfig
    /// accepted by its API server.
    static func gate(_ unit: CertConsumer, host: String, expected: ServedCertificates, _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws {
        let c = try await ctx.reader(host)
        let timeout = settings.healthTimeoutSeconds
        let journal = "check `journalctl -u \(unit.rawValue)` on \(host)"
        switch unit {
        case .etcd:
            try await EtcdWorkflow.waitHealthy(ctx, settings, expected: nil, what: "etcd after rotating certificates on \(host)")
            if let want = expected.etcd { try await waitServed(host, want, ctx, settings) }
        case .apiServer:
            guard let address = settings.inventory.hosts.first(where: { $0.name == host })?.clusterAddress else { throw WorkflowError.unknownHost(host) }
            let base = HealthGate.url(address, apiServerPort)
            try await HealthGate(timeoutSeconds: timeout, intervalSeconds: 1).wait(ctx, host: host, url: base, caFile: PKIManager.remotePKIDirectory + "/ca.crt")
            if let want = expected.apiServer {
                try await poll(ctx, host: host, what: "check the certificate served on \(base)", timeout: timeout, next: journal) {
                    let (served, why) = await CertificateCheck.served(host, address: address, port: apiServerPort, client: nil, in: ctx)
                    guard let served else { return why ?? "no answer" }
                    return served.sha256 == want.sha256 ? nil : "serves serial \(served.serial), expected \(want.serial)"
                }
            }
        case .kubelet, .kubeProxy, .controllerManager, .scheduler:
            guard let probe = healthProbe(unit) else {
                throw WorkflowError.internalInvariant("no health probe is defined for \(unit.unit)")
            }
            try await probe.wait(ctx, host: host, timeoutSeconds: timeout, intervalSeconds: 1)
            guard unit == .controllerManager || unit == .scheduler else { break }
            // /healthz says the process runs, not that its API server accepts the kubeconfig it was given.
            let kubeconfig = PKIManager.remoteKubeconfigDirectory + (unit == .scheduler ? "/scheduler.conf" : "/controller-manager.conf")
            try await poll(ctx, host: host, what: "restart \(unit.rawValue)", timeout: timeout, next: journal) {
                guard let probe = try? await c.run(ShellCommand(["sh", "-c", kubeconfigProbeScript, "sh", kubeconfig]), options: RunOptions(timeoutSeconds: 15)) else {
                    return "\(kubeconfig) not probed"
                }
                return probe.succeeded ? nil : "the API server in \(kubeconfig) refuses its credentials: \(probe.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))"
            }
        }
        await ctx.emit(.hostStatus, host: host, "\(unit.rawValue) healthy with the new files")
    }
}

/// What a host should serve once its services use the state's files.
struct ServedCertificates: Sendable {
    var etcd: CertificateSummary?
    var apiServer: CertificateSummary?
}
