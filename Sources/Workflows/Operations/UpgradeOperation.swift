import Foundation
import Inventory
import PKI

/// `upgrade apply` and `upgrade rollback` as a library: the steps still to run (resumed from the upgrade
/// record), the rollback point, etcd one member at a time, the Kubernetes steps with the record kept at
/// each step, and the rollback in reverse order. The CLI parses, asks, and renders what this returns or
/// throws; every change goes through the context, so `--dry-run` is this code in plan mode.
public struct UpgradeOperation: Sendable {
    public var inventory: Inventory
    public var settings: KubernetesUpgradeSettings
    /// etcd's health gate after each member's restart.
    public var etcdHealthTimeoutSeconds: Double
    /// Progress lines for the operator (the step starting, the rollback point taken, a resumed upgrade).
    public var say: @Sendable (String) -> Void

    /// Where the upgrade record is kept: the inventory's state directory unless given.
    public var state: StateDirectory

    public init(inventory: Inventory, settings: KubernetesUpgradeSettings, etcdHealthTimeoutSeconds: Double,
                state: StateDirectory? = nil, say: @escaping @Sendable (String) -> Void) {
        self.inventory = inventory
        self.settings = settings
        self.etcdHealthTimeoutSeconds = etcdHealthTimeoutSeconds
        self.state = state ?? StateDirectory(inventory: inventory)
        self.say = say
    }

    /// The steps an `upgrade apply` still has to run, and the record it continues.
    public struct Schedule: Sendable {
        public var kubernetes: SemanticVersion
        public var etcdTarget: SemanticVersion?
        public var etcdSteps: [UpgradeStep]
        public var kubernetesSteps: [UpgradeStep]
        public var record: UpgradeRecord?
        /// The record is of an upgrade to these targets that has not completed: the run continues it.
        public var resuming: Bool
        /// With nothing left to run, a record of this upgrade is marked completed.
        var completesRecord: Bool

        public var count: Int { etcdSteps.count + kubernetesSteps.count }
        public var isEmpty: Bool { count == 0 }
    }

    /// The upgrade record in the state directory, if any.
    public func loadRecord() throws(UpgradeRecordUnreadable) -> UpgradeRecord? {
        do { return try UpgradeRecord.load(from: state) } catch {
            throw UpgradeRecordUnreadable(path: state.path(UpgradeRecord.fileName), cause: error)
        }
    }

    /// A self-managed cluster's schedule: the plan's etcd steps, then its Kubernetes steps with a batch that
    /// a previous run stopped in first.
    public func schedule(_ plan: UpgradePlan, kubernetes: SemanticVersion, etcd: SemanticVersion?) throws -> Schedule {
        let record = try loadRecord()
        let resuming = record?.isResumable(targetKubernetes: kubernetes.description, targetEtcd: plan.etcdTarget?.description) ?? false
        let kubernetesSteps = KubernetesUpgradeSchedule.resume(
            planned: plan.steps.filter { $0.stage != .etcd }, pending: resuming ? record?.kubernetesPending ?? [] : [],
            controlPlane: Set(inventory.controlPlaneHosts.map(\.name)), to: kubernetes.description)
        let completes = record?.isResumable(targetKubernetes: kubernetes.description, targetEtcd: plan.etcdTarget?.description ?? etcd?.description) ?? false
        return Schedule(kubernetes: kubernetes, etcdTarget: plan.etcdTarget, etcdSteps: plan.steps.filter { $0.stage == .etcd },
                        kubernetesSteps: kubernetesSteps, record: record, resuming: resuming, completesRecord: completes)
    }

    /// A managed cluster's schedule: worker batches only, a batch a previous run stopped in first.
    public func schedule(_ assessment: ManagedUpgradeAssessment, kubernetes: SemanticVersion) throws -> Schedule {
        let record = try loadRecord()
        let resuming = record?.isResumable(targetKubernetes: kubernetes.description, targetEtcd: nil) ?? false
        let steps = KubernetesUpgradeSchedule.resume(planned: assessment.steps, pending: resuming ? record?.kubernetesPending ?? [] : [],
                                                     controlPlane: [], to: kubernetes.description)
        return Schedule(kubernetes: kubernetes, etcdTarget: nil, etcdSteps: [], kubernetesSteps: steps, record: record,
                        resuming: resuming, completesRecord: resuming)
    }

    /// Nothing left to run: the record of this upgrade, if one is open, is marked completed.
    public func closeRecord(_ schedule: Schedule, in ctx: WorkflowContext) async throws {
        guard schedule.completesRecord, var record = schedule.record else { return }
        record.status = .completed
        record.updatedAt = Date()
        try await save(record, ctx)
    }

    /// Runs a self-managed cluster's schedule: a new upgrade takes its rollback point (`rollbackPoint`, a
    /// verified backup) and writes its record first; etcd moves member by member, then the Kubernetes steps.
    /// Returns the completed record; throws `UpgradeStopped` where a step failed (the record saved as failed).
    public func run(_ schedule: Schedule, assessment: UpgradeAssessment,
                    rollbackPoint: @escaping @Sendable () async throws -> UpgradeRecord.RollbackPoint,
                    in ctx: WorkflowContext) async throws -> UpgradeRecord {
        var record: UpgradeRecord
        if schedule.resuming, let r = schedule.record {
            say("resuming the upgrade started \(r.startedAt) (rollback point \(r.rollbackPoint?.backup ?? "none"))")
            record = r
        } else {
            let survey = assessment.survey
            var previous: [String: String] = [:], sums: [String: String] = [:]
            for h in survey.running where survey.spec.memberNames.contains(h.host) {
                if let v = h.etcd { previous[h.host] = v.description }
            }
            for h in survey.etcdHosts { if let s = h.facts.fileChecksums[survey.spec.binDir + "/etcd"] { sums[h.host] = s } }
            record = UpgradeRecord(targetKubernetes: schedule.kubernetes.description, targetEtcd: schedule.etcdTarget?.description, startedAt: Date(),
                                   previousEtcd: previous, previousEtcdSHA256: sums)
            record.previousKubernetes = Dictionary(survey.running.compactMap { h in
                KubernetesUpgradeSchedule.recorded(h).map { (h.host, $0.description) }
            }, uniquingKeysWith: { a, _ in a })
            record.rollbackPoint = try await ctx.changeState("take the rollback point: backup now, then verify it in the backup store") {
                try await rollbackPoint()
            }
            try await save(record, ctx)
        }

        if let etcdTarget = schedule.etcdTarget, !schedule.etcdSteps.isEmpty {
            var upgraded = inventory
            upgraded.etcd.version = etcdTarget
            let etcdSettings = try EtcdWorkflowSettings(inventory: upgraded, artifacts: try ArtifactStore(for: inventory),
                                                        healthTimeoutSeconds: etcdHealthTimeoutSeconds, allowVersionChange: true)
            say("upgrading etcd to \(etcdTarget): \(schedule.etcdSteps.map { $0.hosts[0] }.joined(separator: " → "))")
            do {
                _ = try await PhaseRunner().run(Workflow(name: "upgrade", phases: EtcdWorkflow.phases(etcdSettings)), in: ctx)
            } catch {
                let after = try? await UpgradeSurvey.read(inventory, in: ctx)
                record.upgraded = after?.members(running: etcdTarget) ?? []
                // The roll goes in plan order, so the first member not on the target is where it stopped.
                let stopped = schedule.etcdSteps.map { $0.hosts[0] }.first { !record.upgraded.contains($0) } ?? (error as? WorkflowError)?.firstHost
                try await fail(&record, at: stopped, error, ctx)
                throw UpgradeStopped(part: .etcd, host: stopped, done: record.upgraded, step: [], record: record, cause: error)
            }
            record.upgraded = try await UpgradeSurvey.read(inventory, in: ctx).members(running: etcdTarget)
            record.stoppedAt = nil
            record.message = nil
        }
        record.updatedAt = Date()
        if !schedule.kubernetesSteps.isEmpty {
            try await runKubernetes(schedule.kubernetesSteps, record: &record, target: schedule.kubernetes, in: ctx)
        }
        return try await complete(record, ctx)
    }

    /// Runs a managed cluster's worker batches; the record lets a re-run continue with the batch a failure
    /// stopped in (its nodes may already run the new kubelet, yet stay cordoned).
    public func run(_ schedule: Schedule, managed assessment: ManagedUpgradeAssessment, in ctx: WorkflowContext) async throws -> UpgradeRecord {
        var record: UpgradeRecord
        if schedule.resuming, let r = schedule.record {
            record = r
        } else {
            record = UpgradeRecord(targetKubernetes: schedule.kubernetes.description, targetEtcd: nil, startedAt: Date(), previousEtcd: [:], previousEtcdSHA256: [:])
            record.previousKubernetes = Dictionary(uniqueKeysWithValues: assessment.survey.workers.compactMap { w in
                w.components[.kubelet].map { (w.host, $0.description) }
            })
            try await save(record, ctx)
        }
        try await runKubernetes(schedule.kubernetesSteps, record: &record, target: schedule.kubernetes, in: ctx)
        return try await complete(record, ctx)
    }

    /// The Kubernetes steps after etcd: each step's hosts are recorded as pending before it starts and as
    /// upgraded once their gates pass, so a re-run continues where this one stopped.
    func runKubernetes(_ steps: [UpgradeStep], record: inout UpgradeRecord, target: SemanticVersion, in ctx: WorkflowContext) async throws {
        var runner = KubernetesStepRunner(inventory: inventory, settings: settings)
        say("upgrading Kubernetes to \(target.tag): " + steps.map { "[\($0.hosts.joined(separator: ", "))]" }.joined(separator: " → "))
        for step in steps {
            record.kubernetesPending = step.hosts
            record.updatedAt = Date()
            try await save(record, ctx)
            say("\(step.stage.rawValue) \(step.hosts.joined(separator: ", ")): \(step.from) → \(step.to)")
            do {
                try await runner.run(step, in: ctx)
            } catch {
                let stopped = (error as? WorkflowError)?.firstHost ?? step.hosts.first
                try await fail(&record, at: stopped, error, ctx)
                throw UpgradeStopped(part: .kubernetes, host: stopped, done: record.kubernetesUpgraded ?? [], step: step.hosts, record: record, cause: error)
            }
            record.kubernetesUpgraded = Array(Set((record.kubernetesUpgraded ?? []) + step.hosts)).sorted()
            record.kubernetesPending = nil
            record.stoppedAt = nil
            record.message = nil
            record.updatedAt = Date()
            try await save(record, ctx)
        }
    }

    func fail(_ record: inout UpgradeRecord, at host: String?, _ error: any Error, _ ctx: WorkflowContext) async throws {
        record.status = .failed
        record.stoppedAt = host
        record.message = "\(error)"
        record.updatedAt = Date()
        try await save(record, ctx)
    }

    func complete(_ record: UpgradeRecord, _ ctx: WorkflowContext) async throws -> UpgradeRecord {
        var record = record
        record.status = .completed
        record.updatedAt = Date()
        try await save(record, ctx)
        return record
    }

    /// The upgrade record is Capstan's own progress, written in apply mode only (a dry run leaves none).
    func save(_ record: UpgradeRecord, _ ctx: WorkflowContext) async throws {
        let state = self.state
        try await ctx.bookkeeping { try record.save(to: state) }
    }
}

// MARK: rollback

extension UpgradeOperation {
    /// What `upgrade rollback` would do, read from the hosts and the record.
    public struct RollbackPlan: Sendable {
        public var record: UpgradeRecord
        /// Workers first (never newer than the API servers), then the control plane.
        public var kubernetesSteps: [UpgradeStep]
        /// The lowest etcd version the members ran before the upgrade.
        public var etcdPrevious: SemanticVersion?
        /// The members that run another version now.
        public var etcdMoved: [String]
        /// Set when etcd's cluster version is newer than `etcdPrevious`: its data cannot move back, and the
        /// binaries cannot be swapped back (the rollback point has to be restored instead).
        public var etcdClusterVersion: SemanticVersion?

        public var isEmpty: Bool { kubernetesSteps.isEmpty && etcdMoved.isEmpty }
        public var returnsEtcd: Bool { etcdPrevious != nil && !etcdMoved.isEmpty }
        public var etcdRefused: Bool {
            guard returnsEtcd, let previous = etcdPrevious, let cluster = etcdClusterVersion else { return false }
            return (cluster.major, cluster.minor) > (previous.major, previous.minor)
        }
        /// One phrase per move, for the question and the summary.
        public var moves: [String] {
            var what = kubernetesSteps.map { "\($0.hosts.joined(separator: ", ")) to Kubernetes v\($0.to)" }
            if returnsEtcd, let previous = etcdPrevious { what.append("\(etcdMoved.joined(separator: ", ")) to etcd \(previous)") }
            return what
        }
    }

    /// Reads the hosts and plans the return to what the record says they ran before; nil without a record.
    public func planRollback(in ctx: WorkflowContext) async throws -> RollbackPlan? {
        guard let record = try loadRecord() else { return nil }
        let survey = try await UpgradeSurvey.read(inventory, in: ctx)
        // Reverse order of the upgrade: workers (never newer than the API servers), control plane, etcd.
        let kubernetesSteps = KubernetesUpgradeSchedule.rollback(running: survey.running, previous: record.previousKubernetes ?? [:],
                                                                 maxUnavailable: inventory.upgrade.maxUnavailable)
        let previous = record.previousEtcd.values.compactMap { SemanticVersion(parsing: $0) }.min()
        let running = EtcdVersionGate.running(hosts: survey.etcdHosts, cluster: survey.cluster)
        let moved = previous.map { p in survey.spec.memberNames.filter { running[$0].map { $0 != p } ?? false } } ?? []
        // etcd sets the cluster version to the lowest minor its members run; data written at a newer
        // cluster version cannot be read by older members (3.5 → 3.4 is not supported by etcd).
        let clusterVersion = EtcdRollback.clusterVersion(running: survey.spec.memberNames.compactMap { running[$0] })
        return RollbackPlan(record: record, kubernetesSteps: kubernetesSteps, etcdPrevious: previous, etcdMoved: moved, etcdClusterVersion: clusterVersion)
    }

    /// Runs a rollback plan (not one whose etcd is refused): the Kubernetes steps, then etcd one member at
    /// a time; the record ends as rolled back. Throws `UpgradeStopped` where a step failed.
    public func rollback(_ plan: RollbackPlan, in ctx: WorkflowContext) async throws -> UpgradeRecord {
        precondition(!plan.etcdRefused, "an etcd whose cluster version is newer than the previous one is restored, not rolled back")
        if !plan.kubernetesSteps.isEmpty {
            var runner = KubernetesStepRunner(inventory: inventory, settings: settings)
            for step in plan.kubernetesSteps {
                say("rollback \(step.stage.rawValue) \(step.hosts.joined(separator: ", ")): \(step.from) → \(step.to)")
                do {
                    try await runner.run(step, in: ctx)
                } catch {
                    throw UpgradeStopped(part: .kubernetesRollback, host: step.hosts.first, done: [], step: step.hosts, record: plan.record, cause: error)
                }
            }
        }
        if plan.returnsEtcd, let previous = plan.etcdPrevious {
            var back = inventory
            back.etcd.version = previous
            let etcdSettings = try EtcdWorkflowSettings(inventory: back, artifacts: try ArtifactStore(for: inventory),
                                                        healthTimeoutSeconds: etcdHealthTimeoutSeconds, allowVersionChange: true)
            say("returning \(plan.etcdMoved.joined(separator: ", ")) to etcd \(previous), one member at a time")
            do {
                _ = try await PhaseRunner().run(Workflow(name: "rollback", phases: EtcdWorkflow.phases(etcdSettings)), in: ctx)
            } catch {
                throw UpgradeStopped(part: .etcdRollback, host: (error as? WorkflowError)?.firstHost, done: [], step: plan.etcdMoved, record: plan.record, cause: error)
            }
        }
        var record = plan.record
        record.status = .rolledBack
        record.kubernetesPending = nil
        record.updatedAt = Date()
        try await save(record, ctx)
        return record
    }
}

/// Runs Kubernetes upgrade (or rollback) steps in order with the install phases of each step's target
/// version; artifacts and rendered files are prepared once per version.
struct KubernetesStepRunner {
    var inventory: Inventory
    var settings: KubernetesUpgradeSettings
    private var upgraders: [SemanticVersion: KubernetesUpgrade] = [:]
    private var managedUpgraders: [SemanticVersion: ManagedWorkerUpgrade] = [:]

    init(inventory: Inventory, settings: KubernetesUpgradeSettings) {
        self.inventory = inventory
        self.settings = settings
    }

    /// The host kubectl runs on for cordon, drain and uncordon: the first control-plane host.
    var controlHost: String? { inventory.controlPlaneHosts.first?.name }

    mutating func prepared(_ version: SemanticVersion) async throws -> KubernetesUpgrade {
        if let known = upgraders[version] { return known }
        var target = inventory
        target.kubernetesVersion = version
        let store = try ArtifactStore(for: target)
        let artifacts = try await NodeArtifacts.resolve(store: store, inventory: target, versions: try ComponentVersions.resolve(for: target))
        let pki = try ClusterFiles(inventory: target, state: StateDirectory(inventory: target))
        let made = try KubernetesUpgrade(inventory: target, pki: pki, artifacts: artifacts, settings: settings)
        upgraders[version] = made
        return made
    }

    /// A managed cluster's workers at `version`: no PKI, the provider CA and bootstrap credentials as `apply` places them.
    mutating func preparedManaged(_ version: SemanticVersion) async throws -> ManagedWorkerUpgrade {
        if let known = managedUpgraders[version] { return known }
        var target = inventory
        target.kubernetesVersion = version
        let artifacts = try await NodeArtifacts.resolve(store: try ArtifactStore(for: target), inventory: target, versions: try ComponentVersions.resolve(for: target))
        let made = try ManagedWorkerUpgrade(inventory: target, artifacts: artifacts, settings: settings)
        managedUpgraders[version] = made
        return made
    }

    mutating func run(_ step: UpgradeStep, in context: WorkflowContext) async throws {
        guard let version = SemanticVersion(parsing: step.to) else { throw UpgradeStepInvalid(step: step.description, reason: "it names no version") }
        if !inventory.isSelfManaged {
            guard step.stage == .workers else { throw UpgradeStepInvalid(step: step.description, reason: "a managed cluster's control plane is the provider's") }
            return try await preparedManaged(version).upgrade(context, batch: step.hosts)
        }
        let upgrader = try await prepared(version)
        switch step.stage {
        case .etcd:
            return
        case .controlPlane:
            for host in step.hosts { try await upgrader.upgradeControlPlane(context, host: host) }
        case .workers:
            guard let controlHost else { throw UpgradeStepInvalid(step: step.description, reason: "the inventory has no control-plane host to run kubectl on") }
            try await upgrader.upgradeWorkers(context, batch: step.hosts, controlHost: controlHost)
        }
    }
}

/// An upgrade or rollback that stopped part-way: which part, where, what was done before, the record as
/// saved, and the error that stopped it.
public struct UpgradeStopped: Error, Sendable, CustomStringConvertible {
    public enum Part: String, Sendable {
        case etcd, kubernetes
        case kubernetesRollback = "Kubernetes rollback"
        case etcdRollback = "etcd rollback"
    }
    public var part: Part
    /// The host it stopped at, where the error or the order names one.
    public var host: String?
    /// Hosts already at the target (upgrades).
    public var done: [String]
    /// The hosts of the step it stopped in.
    public var step: [String]
    public var record: UpgradeRecord
    public var cause: any Error

    public var description: String {
        switch part {
        case .etcd: "the etcd upgrade stopped\(host.map { " at \($0)" } ?? ""): \(cause)"
        case .kubernetes: "the Kubernetes upgrade stopped\(host.map { " at \($0)" } ?? ""): \(cause)"
        case .kubernetesRollback: "the rollback stopped at \(step.joined(separator: ", ")): \(cause)"
        case .etcdRollback: "the rollback stopped: \(cause)"
        }
    }
}

/// The upgrade record exists but cannot be read.
public struct UpgradeRecordUnreadable: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var cause: any Error
    public var description: String { "cannot read \(path): \(cause); move it aside to start a new upgrade" }
}

/// A step the upgrade's planner made that the runner cannot run (a defect, not an operator's mistake).
public struct UpgradeStepInvalid: Error, Sendable, CustomStringConvertible {
    public var step: String
    public var reason: String
    public var description: String { "step \(step) cannot run: \(reason)" }
}
