import Foundation
import Hosts
import Inventory
import PKI
import Templates

/// The `cluster-objects` phase of `apply` (self-managed clusters, after the control plane is ready):
/// server-side apply of `ClusterObjects` with field manager `capstan`, a diff against what the API
/// returns first (so a no-op changes nothing and `plan` shows real diffs), and pruning of objects that
/// carry Capstan's label but are no longer asked for.
///
/// kubectl runs on the first control-plane host, next to an API server, with the break-glass
/// `super-admin.conf` (system:masters): the bindings that authorize `admin.conf` are among the objects it
/// creates, as kubeadm does at init. The credential never rests on the host: it travels on stdin into a
/// 0600 file under /run (tmpfs) that exists only while that one kubectl runs.
public enum ClusterObjectsPhase {
    public static let phaseName = "cluster-objects"

    public static func phase(inventory: Inventory, state: StateDirectory, kubectl: String = NodeArtifacts.binDir + "/kubectl",
                             renderer: TemplateRenderer = TemplateRenderer()) -> Phase {
        let host = inventory.controlPlaneHosts.first?.name
        return Phase(phaseName, concerning: host.map { [$0] } ?? [],
                     next: "check the API server on the host named above (`capstan status -i FILE`), then run apply again") { ctx in
            guard inventory.isSelfManaged, let host else { return }
            let monitoring = inventory.addons.monitoring
                ? try MonitoringAddon.render(inventory: inventory, etcdClient: try EtcdClientMaterial.load(inventory: inventory, state: state), renderer: renderer)
                : nil
            let objects = try ClusterObjects.objects(from: try ClusterObjects.manifests(inventory, monitoring: monitoring, renderer: renderer))
            guard let credential = try state.read(superAdminPath(inventory)) else {
                try await ctx.change(host, "apply \(objects.count) cluster object(s) once the PKI phase has issued super-admin.conf",
                                     diff: objects.map { "+ \($0.id)" }.joined(separator: "\n")) { _ in
                    throw WorkflowError.stateFile("kubeconfig/super-admin.conf is missing from \(state.root): run apply without --skip-phase pki")
                }
                return
            }
            let client = Kubectl(host: host, kubectl: kubectl, credential: credential)
            try await converge(objects, client: client, in: ctx)
        }
    }

    static func superAdminPath(_ inventory: Inventory) throws -> String {
        let required = try CertificateCatalog.required(for: inventory)
        guard let path = required.first(where: { $0.name == "super-admin.conf" })?.kubeconfigPath else {
            throw WorkflowError.internalInvariant("the certificate catalog has no super-admin.conf")
        }
        return path
    }

    static func converge(_ objects: [ClusterObject], client: Kubectl, in ctx: WorkflowContext) async throws {
        let stream = ClusterObjects.stream(objects)
        enum Compared: Sendable { case same, differs(String), noAPI(String) }
        let compared: Compared = try await ctx.readAfterEarlierChanges({
            let diff = try await client.run(["diff", "--server-side", "--field-manager=capstan", "--force-conflicts", "-f", "-"], input: stream, in: ctx)
            // kubectl diff: 0 no difference, 1 differences (printed on stdout); an error exits 1 too, with nothing on stdout.
            switch diff.exitStatus {
            case 0: return .same
            case 1 where !diff.stdout.isEmpty: return .differs(diff.stdoutText)
            default: throw KubectlDiffFailure(failure: client.failure("diff the cluster objects against the API", diff), stderr: diff.stderrText)
            }
        }, assuming: { error in
            // A plan before the first apply: there is no API server to diff against, everything is new.
            guard let failure = error as? KubectlDiffFailure else { throw error }
            return .noAPI(AddonApplier.lastLine(failure.stderr) ?? "no output")
        })
        switch compared {
        case .same: break
        case .differs(let diff):
            try await ctx.change(client.host, "server-side apply \(objects.count) cluster object(s) (field manager capstan)", diff: diff) { _ in
                let applied = try await client.run(["apply", "--server-side", "--field-manager=capstan", "--force-conflicts", "-f", "-"], input: stream, in: ctx)
                guard applied.succeeded else { throw client.failure("apply the cluster objects", applied) }
            }
        case .noAPI(let reason):
            try await ctx.change(client.host, "server-side apply \(objects.count) cluster object(s) (the API does not answer yet: \(reason))",
                                 diff: objects.map { "+ \($0.id)" }.joined(separator: "\n")) { _ in }
            return
        }
        let listed = try await client.run(["get", ClusterObjects.prunableKinds.joined(separator: ","), "--all-namespaces",
                                           "-l", "\(ClusterObjects.ownerLabel)=\(ClusterObjects.ownerValue)", "-o", "json"], input: nil, in: ctx)
        guard listed.succeeded else { throw client.failure("list Capstan's objects", listed) }
        let wanted = Set(objects.map { "\($0.kind)/\($0.namespace ?? "")/\($0.name)" })
        for stale in try owned(listed.stdout) where !wanted.contains("\(stale.kind)/\(stale.namespace ?? "")/\(stale.name)") {
            let id = [stale.kind, stale.namespace, stale.name].compactMap { $0 }.joined(separator: "/")
            try await ctx.change(client.host, "delete \(id) (Capstan's, no longer asked for by the inventory)") { _ in
                var args = ["delete", stale.resource, stale.name, "--ignore-not-found"]
                if let namespace = stale.namespace { args += ["--namespace", namespace] }
                let deleted = try await client.run(args, input: nil, in: ctx)
                guard deleted.succeeded else { throw client.failure("delete \(id)", deleted) }
            }
        }
    }

    struct Owned { var kind: String; var resource: String; var namespace: String?; var name: String }

    /// The objects of a `kubectl get … -o json` list.
    static func owned(_ data: Data) throws -> [Owned] {
        guard let list = try JSONSerialization.jsonObject(with: data) as? [String: Any], let items = list["items"] as? [[String: Any]] else {
            throw WorkflowError.unexpectedAnswer("kubectl get did not return a JSON list")
        }
        return items.compactMap { item in
            guard let kind = item["kind"] as? String, let apiVersion = item["apiVersion"] as? String,
                  let metadata = item["metadata"] as? [String: Any], let name = metadata["name"] as? String else { return nil }
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            return Owned(kind: kind, resource: kind.lowercased() + (group.isEmpty ? "" : "." + group),
                         namespace: metadata["namespace"] as? String, name: name)
        }
    }
}

/// `kubectl diff` failed: the error apply reports, and kubectl's stderr for a plan's note.
struct KubectlDiffFailure: Error, CustomStringConvertible {
    var failure: WorkflowError
    var stderr: String
    var description: String { failure.description }
}

/// kubectl on one host with a kubeconfig that exists only for the duration of each call.
struct Kubectl: Sendable {
    var host: String
    var kubectl: String
    var credential: Data

    /// `$0` is kubectl, the rest its arguments; stdin's first line is the kubeconfig (base64), the rest kubectl's input.
    static let script = """
        set -e
        umask 077
        f=$(mktemp /run/capstan-kubeconfig.XXXXXX)
        trap 'rm -f "$f"' EXIT
        IFS= read -r kc
        printf '%s' "$kc" | base64 -d > "$f"
        "$0" --kubeconfig "$f" "$@"
        """

    /// Runs kubectl read-only or inside a `change`; the kubeconfig never appears in arguments, logs or errors.
    func run(_ arguments: [String], input: String?, in ctx: WorkflowContext) async throws -> CommandResult {
        let connection = try await ctx.reader(host)
        var stdin = Data(credential.base64EncodedString().utf8)
        stdin.append(0x0a)
        if let input { stdin.append(Data(input.utf8)) }
        return try await connection.run(ShellCommand(["sh", "-c", Self.script, kubectl] + arguments),
                                        options: RunOptions(timeoutSeconds: 120, stdin: stdin))
    }

    func failure(_ what: String, _ result: CommandResult) -> WorkflowError {
        .hostFailed(host: host, what: what, reason: "kubectl exited \(result.exitStatus): \(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))",
                    next: "check the API server there (`capstan status -i FILE`) and run apply again")
    }
}
