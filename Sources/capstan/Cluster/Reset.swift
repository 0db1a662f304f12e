import ArgumentParser
import Foundation
import Hosts
import Inventory
import PKI
import Workflows

struct ResetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset",
        abstract: "Return hosts to their state before Capstan; the state directory and backups are kept.",
        discussion: HelpExamples.discussion("reset", """
        --host H (repeatable): what `node remove` does (drain, delete the Node, remove the etcd member under \
        the quorum guards, update the other hosts, take away Capstan's services and files), and also \
        containerd's containers, kube-proxy's iptables chains, mounts under /var/lib/kubelet and the pod \
        bridge. A subset that would take every etcd member or control-plane host is refused: that is --all.
        --all: every host, without draining (the whole cluster ends). It asks for the cluster's name to be \
        typed, or takes --yes-destroy-cluster NAME in scripts. The state directory (CAs, records) and every \
        backup stay: `capstan apply` builds the cluster again with the same CAs, and `capstan backup restore` \
        brings its data back.
        etcd's data directory is moved aside (deleted with --purge); local backup copies in /var/backups/etcd stay.
        Example: capstan reset -i cluster.yaml --host h5 --yes
        """))

    @OptionGroup var inventoryOption: InventoryOption
    @OptionGroup var outputOption: OutputOption
    @Option(name: .long, help: "Reset this host (repeatable).") var host: [String] = []
    @Flag(name: .long, help: "Reset every host of the inventory: the cluster ends.") var all = false
    @Option(name: .customLong("yes-destroy-cluster"), help: ArgumentHelp("With --all in scripts: the cluster's name, as consent.", valueName: "name"))
    var yesDestroyCluster: String?
    @Option(name: .long, help: ArgumentHelp("The address of a host the inventory no longer lists (repeatable).", valueName: "name=address"))
    var address: [String] = []
    @Flag(name: .customLong("remove-images"), help: "Also remove containerd's images.") var removeImages = false
    @Flag(name: .long, help: "Delete etcd's data directory instead of moving it aside.") var purge = false
    @Flag(name: .long, help: "Go ahead although etcd members are unhealthy or unreachable (never without quorum).") var force = false
    @OptionGroup var runOptions: UpgradeRunOptions

    func validate() throws {
        if all == !host.isEmpty { throw ValidationError("give --host H (repeatable) or --all") }
        if yesDestroyCluster != nil && !all { throw ValidationError("--yes-destroy-cluster goes with --all") }
    }

    func run() async throws {
        let dryRun = runOptions.dryRun
        let (inventory, _) = try inventoryOption.load()
        let options = NodeTeardown.Options(purgeEtcdData: purge, reset: true, removeImages: removeImages)
        guard all else {
            try await HostRemoval(inventory: inventory, names: host, addresses: try HostRemoval.addresses(address), teardown: options,
                                  runOptions: runOptions, force: force, dryRun: dryRun, output: outputOption.output, command: "reset").run()
            return
        }
        if !dryRun { try consent(inventory) }
        let output = LiveContext.output(outputOption.output)
        let started = Date()
        let names = inventory.hosts.map(\.name)
        let (report, unreachable) = try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: dryRun ? .plan : .apply, options: WorkflowOptions(force: force),
                                      output: output, checkIdentity: true) { ctx in
                let silent = await LiveContext.unreachable(names, in: ctx)
                let answered = names.filter { silent[$0] == nil }
                let phase = NodeTeardown.phase(hosts: answered, options: options, stamp: CompactTime.string(started),
                                               next: "fix the cause on the hosts named and run `capstan reset --all` again to finish")
                return (try await PhaseRunner().run(Workflow(name: "reset", phases: [phase]), in: ctx), names.filter { !answered.contains($0) })
            }
        }
        output.emit(WorkflowEvent(time: Date(), kind: .message, message: ApplyPhases.summary(report, dryRun: dryRun, seconds: Date().timeIntervalSince(started), command: "reset")))
        if dryRun && outputOption.output == .text { ApplyPhases.printActions(report.actions) }
        for name in unreachable {
            output.emit(WorkflowEvent(time: Date(), kind: .message, host: name, message: "left on \(name) (it did not answer): everything; run `capstan reset -i \(inventory.sourcePath ?? "FILE") --all` again once it answers"))
        }
        if !dryRun {
            output.emit(WorkflowEvent(time: Date(), kind: .message, message:
                "kept: the state directory \(StateDirectory(inventory: inventory).root) and every backup; `capstan apply` builds \(inventory.name) again with the same CAs, `capstan backup restore` brings its data back"))
        }
    }

    /// `--all` ends the cluster: the name typed on a terminal, or `--yes-destroy-cluster NAME`.
    func consent(_ inventory: Inventory) throws {
        try Confirmation.requireTyped("reset --all", "reset --all stops and removes everything Capstan placed on \(inventory.hosts.map(\.name).joined(separator: ", "))",
                                      word: inventory.name, given: yesDestroyCluster, yesFlag: "--yes-destroy-cluster")
    }
}
