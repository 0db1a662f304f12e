import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Add hosts to the cluster or remove them, touching only what must change elsewhere.",
        subcommands: [NodeAdd.self, NodeRemove.self]
    )
}

struct NodeAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Bring hosts the inventory lists into the cluster: everything on them; elsewhere only pod routes, and for new etcd or control-plane hosts the membership, API server etcd lists, balancer backends and VIP peers.",
        discussion: HelpExamples.discussion("node add"))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Argument(help: "Hosts to add (names from spec.hosts).") var hosts: [String]
    @Flag(name: .customLong("dry-run"), help: "Read the hosts and show what would change; change nothing.") var dryRun = false
    @Flag(name: .long, help: "Go ahead although etcd members are unhealthy or unreachable (never without quorum).") var force = false
    @Option(name: .customLong("health-timeout"), help: "Seconds to wait for etcd and API server health after each start or restart.")
    var healthTimeout: Double = 60

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        let unknown = hosts.filter { inventory.host(named: $0) == nil }
        guard unknown.isEmpty else {
            printError("node add: \(unknown.joined(separator: ", ")) not in \(inventory.sourcePath ?? "the inventory")'s spec.hosts: add the host there first (name, address, roles), then run `capstan node add` again")
            throw ExitCode(1)
        }
        let output = LiveContext.output(outputOption.output)
        let started = Date()
        let kubernetes = KubernetesInstallSettings(healthGate: HealthGate(timeoutSeconds: healthTimeout))
        var cluster = try LiveContext.phases(inventory, kubernetes: kubernetes)
        // The nodes already there gain one route each: one command, no survey.
        cluster.routesOnly = Set(inventory.hosts.map(\.name)).subtracting(hosts)
        let all: [Phase]
        if inventory.isSelfManaged {
            let etcd = try EtcdWorkflowSettings(inventory: inventory, artifacts: try ArtifactStore(for: inventory),
                                                replace: [], healthTimeoutSeconds: healthTimeout)
            all = cluster.selfManaged(etcd: etcd)
        } else {
            all = cluster.managed()
        }
        let phases = NodeAddition.phases(all, adding: Set(hosts), inventory: inventory)
        let report = try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: dryRun ? .plan : .apply,
                                      options: WorkflowOptions(force: force), output: output) { context in
                try await PhaseRunner().run(Workflow(name: "node add", phases: phases), in: context)
            }
        }
        output.emit(WorkflowEvent(time: Date(), kind: .message, message: ApplyPhases.summary(report, dryRun: dryRun, seconds: Date().timeIntervalSince(started), command: "node add")))
        if dryRun && outputOption.output == .text { ApplyPhases.printActions(report.actions) }
    }
}

struct NodeRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Drain hosts and remove them: Node objects, etcd members (quorum kept), services and files on them; the other hosts are updated.",
        discussion: HelpExamples.discussion("node remove", """
        In order: cordon, drain (PodDisruptionBudgets respected) and delete each Node; converge the other \
        hosts without these (etcd member removed under the quorum guards, API server etcd lists, balancer \
        backends, VIP peers, pod routes); stop and take away what Capstan placed on the removed hosts (etcd's \
        data is moved aside unless --purge); drop their leaves from the state directory. A host that does \
        not answer is not drained or touched; the command says what stayed on it. Capstan never edits the \
        inventory: a host still listed there comes back with the next `apply`.
        """))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Argument(help: "Hosts to remove.") var hosts: [String]
    @Option(name: .long, help: ArgumentHelp("The address of a host neither the inventory nor the state's host record (written by apply) lists (repeatable).", valueName: "name=address"))
    var address: [String] = []
    @Flag(name: .long, help: "Delete etcd's data directory on the removed hosts instead of moving it aside.") var purge = false
    @Flag(name: .long, help: "Go ahead although etcd members are unhealthy or unreachable (never without quorum).") var force = false
    @OptionGroup var runOptions: UpgradeRunOptions

    func run() async throws {
        let (inventory, _) = try inventoryOption.load()
        try await HostRemoval(inventory: inventory, names: hosts, addresses: try HostRemoval.addresses(address),
                              teardown: NodeTeardown.Options(purgeEtcdData: purge), runOptions: runOptions, force: force,
                              dryRun: runOptions.dryRun, output: outputOption.output, command: "node remove").run()
    }
}

/// What `node remove` and `reset --host` share: the targets, the confirmation, the phases and the report.
struct HostRemoval {
    var inventory: Inventory
    var names: [String]
    var addresses: [String: String]
    var teardown: NodeTeardown.Options
    var runOptions: UpgradeRunOptions
    var force: Bool
    var dryRun: Bool
    var output: OutputFormat
    var command: String

    static func addresses(_ pairs: [String]) throws -> [String: String] {
        var out: [String: String] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--address \(pair): give NAME=ADDRESS, e.g. --address h4=10.0.0.14")
            }
            out[parts[0]] = parts[1]
        }
        return out
    }

    var file: String { inventory.sourcePath ?? "the inventory" }

    func run() async throws {
        var working = inventory
        let roster = try HostRoster.load(StateDirectory(inventory: inventory))
        for name in names where inventory.host(named: name) == nil {
            if let address = addresses[name] {
                working.hosts.append(HostSpec(name: name, address: address, roles: roster?.host(named: name)?.roles ?? [.worker]))
            } else if let known = roster?.host(named: name) {
                working.hosts.append(known)
            } else {
                printError("\(command): \(name) is not in \(file)'s spec.hosts nor in the state's host record; give its address with --address \(name)=ADDRESS")
                throw ExitCode(1)
            }
        }
        let removing = Set(names)
        if let refusal = NodeRemoval.refusal(inventory: working, removing: removing) {
            printError("\(refusal)")
            throw ExitCode(ExitStatus.refused)
        }
        let rest = NodeRemoval.remaining(working, removing: removing)
        if !dryRun {
            try Confirmation.require(command, "\(command) \(names.joined(separator: ", ")) from cluster \(inventory.name): drain, delete the Nodes, remove etcd members, stop and take away Capstan's services and files there", yes: runOptions.yes)
        }
        let output = LiveContext.output(self.output)
        let started = Date()
        let kubernetes = KubernetesInstallSettings(healthGate: HealthGate(timeoutSeconds: runOptions.healthTimeout))
        let converge: [Phase]
        if rest.isSelfManaged {
            let etcd = try EtcdWorkflowSettings(inventory: rest, artifacts: try ArtifactStore(for: rest),
                                                replace: [], healthTimeoutSeconds: runOptions.healthTimeout)
            converge = try LiveContext.phases(rest, kubernetes: kubernetes).selfManaged(etcd: etcd)
        } else {
            converge = try LiveContext.phases(rest, kubernetes: kubernetes).managed()
        }
        let stamp = CompactTime.string(started)
        let drainer = runOptions.settings(inventory).drainer
        let (report, targets) = try await exitOnFailure {
            try await LiveContext.run(inventory: working, mode: dryRun ? .plan : .apply, options: WorkflowOptions(force: force),
                                      output: output, checkIdentity: true) { ctx in
                var targets: [NodeRemoval.Target] = []
                let silent = await LiveContext.unreachable(names, in: ctx)
                for name in names {
                    let answered = silent[name] == nil
                    if let reason = silent[name] { await ctx.emit(.message, host: name, "\(name) does not answer (\(reason)): it is removed from the cluster without being drained or torn down") }
                    let host = working.host(named: name)
                    targets.append(NodeRemoval.Target(name: name, isNode: host.map { $0.has(.worker) || $0.has(.controlPlane) } ?? true, reachable: answered))
                }
                var phases: [Phase] = []
                if rest.isSelfManaged, let control = rest.controlPlaneHosts.first {
                    phases.append(NodeRemoval.drainPhase(targets, controlHost: control.name, drainer: drainer))
                } else if targets.contains(where: \.isNode) {
                    await ctx.emit(.message, "\(inventory.name) is managed: delete the Nodes \(names.joined(separator: ", ")) with the provider's kubectl (`kubectl drain`, `kubectl delete node`)")
                }
                phases += converge
                let reachable = targets.filter(\.reachable).map(\.name)
                if !reachable.isEmpty {
                    phases.append(NodeTeardown.phase(hosts: reachable, options: teardown, stamp: stamp,
                                                     next: "the cluster no longer uses these hosts; fix the cause on them and run the command again to finish"))
                }
                phases.append(NodeRemoval.statePhase(names, state: StateDirectory(inventory: inventory)))
                return (try await PhaseRunner().run(Workflow(name: command, phases: phases), in: ctx), targets)
            }
        }
        output.emit(WorkflowEvent(time: Date(), kind: .message, message: ApplyPhases.summary(report, dryRun: dryRun, seconds: Date().timeIntervalSince(started), command: command)))
        if dryRun && self.output == .text { ApplyPhases.printActions(report.actions) }
        for target in targets where !target.reachable {
            output.emit(WorkflowEvent(time: Date(), kind: .message, host: target.name, message:
                "left on \(target.name) (it did not answer): its services, Capstan's files and etcd's data; run `capstan reset -i \(file) --host \(target.name)` once it answers, or reinstall it"))
        }
        let listed = names.filter { inventory.host(named: $0) != nil }
        if !listed.isEmpty && !dryRun {
            output.emit(WorkflowEvent(time: Date(), kind: .message, message:
                "\(file) still lists \(listed.joined(separator: ", ")) in spec.hosts: remove \(listed.count == 1 ? "it" : "them") there, or the next `capstan apply` adds \(listed.count == 1 ? "it" : "them") back"))
        }
    }

}
