import Foundation
import Hosts
import Inventory
import PKI
import Testing
import TestSupport
@testable import Workflows

@Suite("Run data shared by the phases of one run", .tags(.unit))
struct RunDataTests {
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        func next() -> Int { lock.withLock { count += 1; return count } }
        var value: Int { lock.withLock { count } }
    }

    func context(_ mode: WorkflowMode = .apply, options: WorkflowOptions = WorkflowOptions()) -> WorkflowContext {
        WorkflowContext(mode: mode, options: options, connector: LocalTreeConnector(base: "/nonexistent"),
                        endpoints: ["h1", "h2", "h3"].map(endpoint), output: CollectingOutput(), now: fixedNow)
    }

    @Test("an input read before its phase ran names that phase; what is derived from it is computed once per run for every host, and again in the next run")
    func oncePerRun() async throws {
        let input = RunData<Int>(setBy: "prepare")
        let computed = Counter()
        let derived = input.map { value -> String in
            _ = computed.next()
            return "rendered \(value)"
        }
        let seen = PhaseRunnerTests.Log()
        let phases = [
            Phase("early", hosts: ["h1"]) { ctx, _ in
                do {
                    _ = try await derived.value(in: ctx)
                    Issue.record("derived data was read before its input was set")
                } catch WorkflowError.runDataMissing(let phase) {
                    #expect(phase == "prepare")
                }
            },
            Phase("prepare", concerning: []) { ctx in await input.set(7, in: ctx) },
            Phase("use", hosts: ["h1", "h2", "h3"]) { ctx, host in seen.add("\(host): \(try await derived.value(in: ctx))") },
            Phase("use again", hosts: ["h1"]) { ctx, host in seen.add("\(host): \(try await derived.value(in: ctx))") },
        ]
        let ctx = context()
        _ = try await PhaseRunner().run(Workflow(name: "w", phases: phases), in: ctx)
        #expect(computed.value == 1)
        #expect(Set(seen.all) == ["h1: rendered 7", "h2: rendered 7", "h3: rendered 7"])
        #expect(seen.all.count == 4)

        // The next run on the same context starts without the previous run's data.
        _ = try await PhaseRunner().run(Workflow(name: "w", phases: phases), in: ctx)
        #expect(computed.value == 2)
    }

    @Test("setting the input again drops what was derived from the old value; resolveDerived fails on a derivation that fails, and a failure is not kept")
    func setAndResolve() async throws {
        let input = RunData<Int>(setBy: "prepare")
        let doubled = input.map { $0 * 2 }
        let text = doubled.map { value -> String in
            struct Odd: Error {}
            if value % 4 != 0 { throw Odd() }
            return "\(value)"
        }
        let ctx = context()
        await input.set(2, in: ctx)
        try await input.resolveDerived(in: ctx)
        #expect(try await text.value(in: ctx) == "4")

        await input.set(3, in: ctx)
        #expect(try await doubled.value(in: ctx) == 6)
        await #expect(throws: (any Error).self) { try await input.resolveDerived(in: ctx) }

        await input.set(4, in: ctx)
        try await input.resolveDerived(in: ctx)
        #expect(try await text.value(in: ctx) == "8")
        #expect(try await RunData(fixed: "known").value(in: ctx) == "known")
    }

    @Test("data built after other data was freed never answers with the freed data's value (a context can outlive its phases, as upgrade's does)")
    func freshKeys() async throws {
        let ctx = context()
        for round in 0..<50 {
            // Each RunData is freed at the end of its iteration; the next may be allocated at the same address.
            #expect(try await RunData(fixed: round).map { $0 * 10 }.value(in: ctx) == round * 10)
            let input = RunData<Int>(setBy: "prepare")
            if round.isMultiple(of: 2) { await input.set(round, in: ctx) }
            let read = try? await input.value(in: ctx)
            #expect(read == (round.isMultiple(of: 2) ? round : nil))
        }
    }

    @Test("apply's Kubernetes phases: a plan before the PKI exists shows the control plane and kubelets waiting for it; apply stops at kubernetes-artifacts; skipping that phase fails the first phase that needs it")
    func kubernetesInputs() async throws {
        let base = try makeTemp()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let (_, artifacts) = try await Fixture.cluster(base)
        let inventory = Fixture.inventory()
        // A state directory the PKI phase has not written yet.
        let empty = try ClusterFiles(inventory: inventory, state: StateDirectory(root: base + "/empty-state"))
        let phases = KubernetesWorkflow.deferredPhases(inventory: inventory, settings: Fixture.settings) { _ in (empty, artifacts) }
        #expect(phases.map(\.name) == [KubernetesWorkflow.artifactsPhase, "node-preflight", "node-kernel", "node-runtime", "node-images",
                                       "control-plane", "control-plane-vip", "node-balancer", "node-kubelet"])
        func context(_ mode: WorkflowMode, _ output: CollectingOutput, skipping: Set<String> = []) -> WorkflowContext {
            WorkflowContext(mode: mode, options: WorkflowOptions(skipPhases: skipping),
                            connector: SystemdDoubleConnector(base: base + "/hosts", systemd: SystemdDouble()),
                            endpoints: Fixture.endpoints(["h1", "h2", "h3"]), output: output, now: { Date() })
        }

        let planned = CollectingOutput()
        let report = try await PhaseRunner().run(Workflow(name: "plan", phases: phases), in: context(.plan, planned))
        #expect(planned.events.contains { $0.kind == .note && $0.message.hasPrefix("the control plane and kubelets are planned once the PKI exists") })
        let waiting = report.actions.filter { $0.description.hasSuffix("install once the PKI phase has created the certificates") }
        #expect(Set(waiting.map { "\($0.host) \($0.description.prefix { $0 != ":" })" })
                == ["h1 control-plane", "h2 control-plane", "h1 node-kubelet", "h2 node-kubelet", "h3 node-kubelet"])
        #expect(report.actions.contains { $0.host == "h3" && $0.description == "create /etc/crictl.yaml" })

        do {
            _ = try await PhaseRunner().run(Workflow(name: "apply", phases: phases), in: context(.apply, CollectingOutput()))
            Issue.record("apply went on without the PKI")
        } catch let WorkflowError.phaseFailed(phase, failures, _) {
            #expect(phase == KubernetesWorkflow.artifactsPhase)
            guard case WorkflowError.missingStateFile = try #require(failures.first?.cause as? WorkflowError) else {
                Issue.record("wrong cause: \(failures)")
                return
            }
        }

        // The phases that read what kubernetes-artifacts prepares say so: skipping it alone is refused before anything runs.
        let skipped = CollectingOutput()
        do {
            _ = try await PhaseRunner().run(Workflow(name: "plan", phases: phases), in: context(.plan, skipped, skipping: [KubernetesWorkflow.artifactsPhase]))
            Issue.record("the phases ran without their inputs")
        } catch let WorkflowError.neededPhaseMissing(phase, neededBy, wasSkipped) {
            #expect(phase == KubernetesWorkflow.artifactsPhase)
            // The fixture has no VIP: its empty control-plane-vip phase reads nothing.
            #expect(neededBy == ["node-kernel", "node-runtime", "node-images", "control-plane", "node-balancer", "node-kubelet"])
            #expect(wasSkipped)
        }
        #expect(!skipped.events.contains { $0.kind == .phaseStarted })
        // Skipped with every phase that reads it, the rest runs.
        let readers: Set<String> = ["node-kernel", "node-runtime", "node-images", "control-plane", "node-balancer", "node-kubelet"]
        let rest = try await PhaseRunner().run(Workflow(name: "plan", phases: phases),
                                               in: context(.plan, CollectingOutput(), skipping: readers.union([KubernetesWorkflow.artifactsPhase])))
        #expect(rest.completed == ["node-preflight", "control-plane-vip"])
    }

    @Test("the etcd phases read what etcd-facts learned in this run: skipped, the next etcd phase fails naming it before it touches a host")
    func etcdFacts() async throws {
        let settings = try EtcdWorkflowSettings(inventory: Fixture.inventory(),
                                                artifacts: ArtifactStore(origin: .localDirectory("/nonexistent"), cacheDirectory: "/nonexistent"))
        let phases = EtcdWorkflow.phases(settings)
        #expect(phases.first?.name == "etcd-facts")
        do {
            _ = try await PhaseRunner().run(Workflow(name: "etcd", phases: phases), in: context(.plan, options: WorkflowOptions(skipPhases: ["etcd-facts"])))
            Issue.record("the etcd phases ran without their facts")
        } catch let WorkflowError.neededPhaseMissing(phase, neededBy, _) {
            #expect(phase == "etcd-facts")
            #expect(neededBy == ["etcd-artifacts", "etcd-install", "etcd-membership", "etcd-rolling-restart", "etcd-start"])
        }
        // Out of order is refused the same way: the phase that prepares must come first.
        do {
            _ = try await PhaseRunner().run(Workflow(name: "etcd", phases: Array(phases.dropFirst()) + [phases[0]]), in: context(.plan))
            Issue.record("a phase ran before the phase that prepares what it reads")
        } catch let WorkflowError.neededPhaseMissing(phase, _, wasSkipped) {
            #expect(phase == "etcd-facts")
            #expect(!wasSkipped)
        }
        // A read that was not declared still fails, naming the phase, without touching a host.
        let undeclared = Phase("reads etcd facts", hosts: ["h1"]) { ctx, _ in _ = try await RunData<Int>(setBy: "etcd-facts").value(in: ctx) }
        do {
            _ = try await PhaseRunner().run(Workflow(name: "w", phases: [undeclared]), in: context(.plan))
            Issue.record("an undeclared read of missing run data passed")
        } catch let WorkflowError.phaseFailed(_, failures, _) {
            #expect(failures.first?.message == "this phase needs what the phase etcd-facts prepares in the same run: do not skip etcd-facts")
        }
    }
}
