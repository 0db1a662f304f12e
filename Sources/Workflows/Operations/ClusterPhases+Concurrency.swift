import Inventory
import PKI

extension ClusterPhases {
    /// Every phase Capstan builds for this inventory: `apply`'s in order (with certs-renew, which runs with
    /// `--renew-before`), then what `node remove` and `reset` add. Phase names exist only where the phases are
    /// built, so this list is what the inventory's phase names are checked against.
    public func catalog() throws -> [Phase] {
        let hosts = inventory.hosts.map(\.name)
        return try all(renewBefore: .days(30)) + [
            NodeRemoval.drainPhase([], controlHost: hosts.first ?? "", drainer: NodeDrainer()),
            NodeTeardown.phase(hosts: hosts, options: NodeTeardown.Options(), stamp: "", next: ""),
            NodeRemoval.statePhase([], state: StateDirectory(inventory: inventory)),
        ]
    }

    /// What only the phases can tell of `spec.concurrency.phases`: a name that none of this inventory's phases
    /// has, and a setting other than 1 for a phase that does not work on its hosts in parallel. Each problem is
    /// placed where the setting is written.
    public func concurrencyProblems() throws -> [Diagnostic] {
        let settings = inventory.concurrency
        guard !settings.phases.isEmpty else { return [] }
        let phases = try catalog()
        let names = phases.map(\.name)
        let parallel = phases.filter(\.worksOnHostsInParallel).map(\.name)
        let file = inventory.sourcePath ?? "inventory"
        let nowhere = SourcePlace(line: 0, column: 0)
        var problems: [Diagnostic] = []
        for (name, count) in settings.phases {
            let place = settings.places[name]
            guard let phase = phases.first(where: { $0.name == name }) else {
                problems.append(Diagnostic(file: file, at: place?.key ?? nowhere,
                                           message: Spelling.unknownKey(name, in: "spec.concurrency.phases", allowed: names)))
                continue
            }
            guard !parallel.contains(name), count != 1 else { continue }
            let how = phase.execution == .serial
                ? "changes one host at a time so the API servers and etcd keep quorum"
                : "runs once for the whole cluster"
            problems.append(Diagnostic(file: file, at: place?.value ?? nowhere, message:
                "spec.concurrency.phases.\(name): the phase \(how); remove this setting (phases that work on hosts in parallel: \(parallel.joined(separator: ", ")))"))
        }
        return InventoryLoader.sorted(problems)
    }
}

extension LoadResult {
    /// This result with `ClusterPhases.concurrencyProblems` added: what every command that reads `-i FILE`
    /// and `capstan validate` report. An inventory whose phases cannot be built keeps its diagnostics; the
    /// command that builds them reports why.
    public func checkingPhaseNames() -> LoadResult {
        guard let inventory, errors.isEmpty,
              let artifacts = try? ArtifactStore(for: inventory),
              let problems = try? ClusterPhases(inventory: inventory, artifacts: artifacts, backupStore: {
                  throw WorkflowError.internalInvariant("the phase-name check builds the phases and runs none")
              }).concurrencyProblems(),
              !problems.isEmpty
        else { return self }
        return LoadResult(inventory: nil, diagnostics: InventoryLoader.sorted(diagnostics + problems))
    }
}
