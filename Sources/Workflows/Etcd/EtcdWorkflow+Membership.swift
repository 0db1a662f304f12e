import Foundation
import Hosts

extension EtcdWorkflow {
    /// `etcdctl` against the host's own client port with the healthcheck-client certificate.
    static func etcdctl(_ spec: EtcdClusterSpec, _ arguments: [String]) -> ShellCommand {
        ShellCommand([
            spec.etcdctl, "--endpoints=https://127.0.0.1:2379", "--cacert=\(spec.pkiDir)/ca.crt",
            "--cert=\(spec.pkiDir)/healthcheck-client.crt", "--key=\(spec.pkiDir)/healthcheck-client.key",
            "--dial-timeout=2s", "--command-timeout=10s",
        ] + arguments)
    }

    /// A healthy member not being replaced or removed, to run membership commands on.
    static func controller(_ settings: EtcdWorkflowSettings, _ state: EtcdRunState, excluding: Set<String> = []) async -> String? {
        let observation = await state.cluster.observation
        let healthy = Set(observation.members.filter { $0.healthy && !$0.member.isLearner }.map(\.member.name))
        return settings.spec.memberNames.first { healthy.contains($0) && !settings.replace.contains($0) && !excluding.contains($0) }
    }

    static func pause(_ seconds: Double) async { try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000)) }

    static func changeMembership(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, _ state: EtcdRunState) async throws {
        let spec = settings.spec
        let steps = await state.plan.steps
        let removing = Set(steps.compactMap { step -> String? in if case let .remove(name, _) = step { return name } else { return nil } })
        for step in steps {
            switch step {
            case let .bootstrap(members, _):
                // Type=notify: each start returns once the member has joined a quorum, so all start together.
                let outcomes = await FanOut.run(members, name: { $0 }) { host in
                    try await ctx.change(host, "systemctl enable --now etcd (bootstrap \(members.count)-member cluster)") { c in
                        try await startUnit(c, host, spec, timeout: settings.healthTimeoutSeconds)
                    }
                }
                let failures = outcomes.compactMap { o in o.error.map { "\(o.host): \($0)" } }
                if !failures.isEmpty {
                    throw WorkflowError.hostFailed(host: outcomes.filter { $0.error != nil }.map(\.host).joined(separator: ", "),
                                                   what: "bootstrap etcd", reason: failures.joined(separator: "\n"),
                                                   next: "fix the cause and apply again")
                }
                try await ctx.gate { try await waitHealthy(ctx, settings, expected: members, what: "new etcd cluster") }

            case let .addLearner(name, peerURL):
                guard let via = await controller(settings, state, excluding: removing) else { throw noController(name) }
                try await ctx.change(via, "etcdctl member add \(name) --learner --peer-urls=\(peerURL)") { c in
                    try await checkRetryingWhileSettling(ctx, c, etcdctl(spec, ["member", "add", name, "--learner", "--peer-urls=\(peerURL)"]), timeout: settings.healthTimeoutSeconds)
                }

            case let .startJoining(name, _):
                try await ctx.change(name, "systemctl enable --now etcd (join as learner)") { c in
                    try await startUnit(c, name, spec, timeout: settings.healthTimeoutSeconds)
                }

            case let .promote(name):
                guard let via = await controller(settings, state, excluding: removing.union([name])) else { throw noController(name) }
                try await ctx.change(via, "etcdctl member promote \(name) (once caught up)") { c in
                    try await promoteWhenCaughtUp(ctx, c, name: name, spec: spec, timeout: settings.healthTimeoutSeconds)
                }
                try await ctx.gate { try await waitHealthy(ctx, settings, expected: nil, what: "etcd after promoting \(name)") }

            case let .remove(name, id):
                guard let via = await controller(settings, state, excluding: removing.union([name])) else { throw noController(name) }
                let label = name.isEmpty ? String(id, radix: 16) : name
                try await ctx.change(via, "etcdctl member remove \(label) (\(String(id, radix: 16)))") { c in
                    try await checkRetryingWhileSettling(ctx, c, etcdctl(spec, ["member", "remove", String(id, radix: 16)]), timeout: settings.healthTimeoutSeconds)
                }

            case let .stopAndWipe(name):
                guard spec.inventoryHosts.contains(name) else {
                    await ctx.emit(.message, "\(name) is not in the inventory: stop etcd there and move \(spec.dataDir) aside by hand")
                    continue
                }
                let stamp = Int(ctx.now().timeIntervalSince1970)
                let aside = "\(spec.dataDir).removed-\(stamp)"
                do {
                    try await ctx.change(name, "stop etcd and move \(spec.dataDir) aside to \(aside)") { c in
                        try await c.check(ShellCommand("systemctl", "disable", "--now", spec.unit)
                            .then(ShellCommand(["sh", "-c", "if [ -d \"$1\" ]; then mv -- \"$1\" \"$2\"; fi", "sh", spec.dataDir, aside]))
                            .then(ShellCommand("install", "-d", "-m", "0700", "-o", spec.user, "-g", spec.user, spec.dataDir)))
                    }
                } catch {
                    if spec.member(name) != nil { throw error }
                    // A removed member's host may be gone for good; the cluster no longer counts it.
                    await ctx.emit(.message, "could not stop etcd on removed member \(name): \(error)")
                }
            }
        }
    }

    /// Runs a membership command, retrying while etcd says the cluster is still settling: right after a
    /// promotion etcd refuses the next change with `unhealthy cluster` until it has heard from the new
    /// voter for a while (seen on real 3.4 clusters).
    static func checkRetryingWhileSettling(_ ctx: WorkflowContext, _ c: any HostConnection, _ command: ShellCommand, timeout: Double) async throws {
        let start = ctx.now()
        while true {
            let r = try await c.run(command)
            if r.succeeded { return }
            let settling = r.stderrText.contains("unhealthy cluster") || r.stderrText.contains("not enough started members")
            if !settling || ctx.now().timeIntervalSince(start) >= timeout {
                throw HostError.commandFailed(host: c.hostName, command: command.description, exitStatus: r.exitStatus, stderr: r.stderrText)
            }
            await pause(1)
        }
    }

    static func noController(_ name: String) -> WorkflowError {
        WorkflowError.refused(what: "change membership for \(name)", found: "no healthy voting member is left to run etcdctl on",
                              next: "bring a member back (`capstan status -i FILE`), then apply again")
    }

    /// `systemctl enable --now etcd`; a failure quotes the unit's journal.
    static func startUnit(_ c: any HostConnection, _ host: String, _ spec: EtcdClusterSpec, timeout: Double) async throws {
        let result = try await c.run(ShellCommand("systemctl", "enable", "--now", spec.unit), options: RunOptions(timeoutSeconds: timeout + 30))
        guard result.succeeded else {
            let journal = await journal(c, spec)
            throw WorkflowError.hostFailed(host: host, what: "start etcd", reason: "\(result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines))\njournalctl -u etcd -n 20:\n\(journal)",
                                           next: "fix the cause shown in the journal and apply again")
        }
    }

    static func journal(_ c: any CommandRunner, _ spec: EtcdClusterSpec) async -> String {
        let r = try? await c.run(ShellCommand("journalctl", "-u", spec.unit, "-n", "20", "--no-pager", "-o", "short-iso"), options: RunOptions(timeoutSeconds: 10))
        return r?.stdoutText ?? "(journal unavailable)"
    }

    /// Promotes once the learner's log has caught up with the leader (etcd refuses earlier).
    static func promoteWhenCaughtUp(_ ctx: WorkflowContext, _ c: any HostConnection, name: String, spec: EtcdClusterSpec, timeout: Double) async throws {
        let start = ctx.now()
        var last = ""
        while ctx.now().timeIntervalSince(start) < timeout {
            let list = try await c.run(etcdctl(spec, ["member", "list", "-w", "json"]))
            if list.succeeded, let members = try? FactsParser.etcdMemberList(list.stdoutText, host: c.hostName),
               let member = members.members.first(where: { $0.name == name }) {
                if !member.isLearner { return }
                let r = try await c.run(etcdctl(spec, ["member", "promote", member.hexID]))
                if r.succeeded { return }
                last = r.stderrText.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                last = list.succeeded ? "\(name) has not started yet" : list.stderrText
            }
            await pause(0.5)
        }
        throw WorkflowError.hostFailed(host: name, what: "promote learner \(name)", reason: "not caught up after \(Int(timeout))s: \(last)",
                                       next: "check `journalctl -u etcd` on \(name) and apply again (the learner stays until promoted)")
    }

    // MARK: rolling restart, start, health

    static func rollingRestart(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, _ state: EtcdRunState) async throws {
        let changed = await state.changed.subtracting(await state.hostsInSteps)
        guard !changed.isEmpty else { return }
        let cluster = await state.cluster
        let leaderName = cluster.memberList?.members.first { $0.id == cluster.leaderID }?.name
        let order = EtcdPlanner.rollingOrder(members: settings.spec.memberNames.filter(changed.contains), leader: leaderName)
        await ctx.emit(.message, "restarting one member at a time: \(order.joined(separator: " → "))")
        for host in order {
            try await ctx.safetyGate { try await waitHealthy(ctx, settings, expected: nil, what: "etcd before restarting \(host)") }
            let revisionBefore = settings.allowVersionChange ? try await ctx.gate { await clusterRevision(ctx, settings) } ?? nil : nil
            for file in await state.deferredFiles[host] ?? [] { try await ctx.ensureFile(host, file) }
            try await ctx.change(host, "systemctl restart etcd (its files changed)\(host == leaderName ? " — leader, last" : "")") { c in
                let r = try await c.run(ShellCommand("systemctl", "restart", settings.spec.unit), options: RunOptions(timeoutSeconds: settings.healthTimeoutSeconds + 30))
                guard r.succeeded else {
                    throw WorkflowError.hostFailed(host: host, what: "restart etcd", reason: "\(r.stderrText)\njournalctl -u etcd -n 20:\n\(await journal(c, settings.spec))",
                                                   next: "fix the cause and apply again; the remaining members were not restarted")
                }
            }
            try await ctx.gate { try await waitHealthy(ctx, settings, expected: nil, what: "etcd after restarting \(host)") }
            if let revisionBefore { try await waitCaughtUp(ctx, settings, host: host, revision: revisionBefore) }
        }
    }

    /// The highest revision any member reports now.
    static func clusterRevision(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async -> Int64? {
        for host in settings.spec.memberNames {
            if let cluster = await EtcdFactsGatherer.cluster(from: host, spec: settings.spec, in: ctx), let max = cluster.statuses.map(\.revision).max() {
                return max
            }
        }
        return nil
    }

    /// Revision gate of a version change: the restarted member serves at least the revision the cluster
    /// had before it went down, so no acknowledged write is missing from it.
    static func waitCaughtUp(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, host: String, revision: Int64) async throws {
        let start = ctx.now()
        var seen: Int64?
        while ctx.now().timeIntervalSince(start) < settings.healthTimeoutSeconds {
            if let cluster = await EtcdFactsGatherer.cluster(from: host, spec: settings.spec, in: ctx),
               let member = cluster.memberList?.members.first(where: { $0.name == host }),
               let status = cluster.status(of: member) {
                seen = status.revision
                if status.revision >= revision {
                    await ctx.emit(.message, "\(host) runs etcd \(status.version) at revision \(status.revision) (≥ \(revision) before its restart)")
                    return
                }
            }
            await pause(0.5)
        }
        throw WorkflowError.hostFailed(host: host, what: "catch up with the cluster's revision after its etcd restart",
                                       reason: "revision \(seen.map(String.init) ?? "unknown") after \(Int(settings.healthTimeoutSeconds))s, below \(revision) before the restart",
                                       next: "check `journalctl -u etcd` on \(host); the remaining members were not restarted")
    }

    /// Members that belong to the cluster but are stopped (e.g. after a reboot with a failed unit).
    static func startStopped(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, _ state: EtcdRunState) async throws {
        let inSteps = await state.hostsInSteps
        for host in settings.spec.memberNames where !inSteps.contains(host) {
            guard let facts = await state.hosts[host], facts.reachable, !facts.isActive, facts.hasData else { continue }
            try await ctx.change(host, "systemctl start etcd (was \(facts.unit?.activeState ?? "stopped"))") { c in
                try await startUnit(c, host, settings.spec, timeout: settings.healthTimeoutSeconds)
            }
        }
    }

    /// Waits until every voting member is healthy, a leader exists and (when `expected` is given) the
    /// member list holds exactly those members, all started and voting.
    static func waitHealthy(_ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings, expected: [String]?, what: String) async throws {
        let spec = settings.spec
        let start = ctx.now()
        var last: EtcdClusterFacts = .none
        var from: String?
        while true {
            for host in ([from].compactMap { $0 } + spec.memberNames) {
                if let cluster = await EtcdFactsGatherer.cluster(from: host, spec: spec, in: ctx) {
                    last = cluster
                    from = host
                    break
                }
            }
            if last.isHealthy, let list = last.memberList {
                let names = list.members.map(\.name)
                let allVoting = list.members.allSatisfy { $0.hasStarted && !$0.isLearner }
                if let expected {
                    if Set(names) == Set(expected) && names.count == expected.count && allVoting { return }
                } else if list.members.filter({ !$0.isLearner }).allSatisfy({ m in last.health(of: m)?.health == true }) {
                    return
                }
            }
            if ctx.now().timeIntervalSince(start) >= settings.healthTimeoutSeconds { break }
            await pause(0.5)
        }
        // Name the hosts that are not healthy and quote their journals.
        let observation = last.observation
        var bad = observation.members.filter { !$0.healthy }.map(\.member.name).filter { !$0.isEmpty }
        if let expected {
            let present = Set(observation.members.map(\.member.name))
            bad += expected.filter { !present.contains($0) }
        }
        if bad.isEmpty { bad = expected ?? spec.memberNames }
        var evidence = "member list: " + (last.memberList.map { $0.members.map { "\($0.name.isEmpty ? $0.hexID : $0.name)\($0.isLearner ? " (learner)" : "")" }.joined(separator: ", ") } ?? "no member answered")
        for host in Array(Set(bad)).sorted() {
            if let c = try? await ctx.reader(host) {
                evidence += "\n[\(host)] journalctl -u etcd -n 20:\n" + (await journal(c, spec))
            } else {
                evidence += "\n[\(host)] unreachable"
            }
        }
        throw WorkflowError.hostFailed(
            host: Array(Set(bad)).sorted().joined(separator: ", "), what: what,
            reason: "not healthy after \(Int(settings.healthTimeoutSeconds))s; \(evidence)",
            next: "fix the cause shown above and apply again")
    }
}
