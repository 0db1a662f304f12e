import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

/// `upgrade plan` / `upgrade apply` of a managed cluster: the provider upgrades its control plane, Capstan
/// the workers it joined, never past the provider's API server.
struct ManagedUpgradeAssessment {
    var inventory: Inventory
    var survey: ManagedUpgradeSurvey
    var steps: [UpgradeStep]
    var refusal: UpgradeRefusal?

    static func make(_ inventory: Inventory, target: UpgradeTargetOptions, in context: WorkflowContext) async throws -> ManagedUpgradeAssessment {
        if target.etcd != nil {
            throw ValidationError("--etcd: \(inventory.name) is managed; the provider runs its etcd")
        }
        guard let k = SemanticVersion(parsing: target.to) else { throw ValidationError("--to \(target.to) is not a version like v1.31.4") }
        let survey = try await ManagedUpgradeSurvey.read(inventory, in: context)
        do {
            let steps = try ManagedUpgradePlanner.plan(workers: survey.workers, controlPlane: survey.controlPlane, target: k,
                                                       maxUnavailable: inventory.upgrade.maxUnavailable)
            return ManagedUpgradeAssessment(inventory: inventory, survey: survey, steps: steps, refusal: nil)
        } catch {
            return ManagedUpgradeAssessment(inventory: inventory, survey: survey, steps: [], refusal: error)
        }
    }

    struct JSON: Encodable {
        var ok: Bool
        var managed = true
        var controlPlane: String
        var kubelets: [String: String]
        var refusal: String?
        var next: String?
        var steps: [UpgradeStep]
        var verdict: String
    }

    func json(_ target: UpgradeTargetOptions) -> JSON {
        JSON(ok: refusal == nil, controlPlane: survey.controlPlaneText,
             kubelets: Dictionary(uniqueKeysWithValues: survey.workers.map { ($0.host, $0.components[.kubelet]?.tag ?? "none") }),
             refusal: refusal?.reason, next: refusal?.next, steps: steps, verdict: verdict(target))
    }

    func verdict(_ target: UpgradeTargetOptions) -> String {
        if let refusal { return "verdict: refused: \(refusal.reason)" }
        guard !steps.isEmpty else { return "verdict: nothing to upgrade" }
        return "verdict: ready, \(steps.count) step\(steps.count == 1 ? "" : "s"); next: `capstan upgrade apply -i \(target.inventoryOption.inventory) --to \(target.to) --kubeconfig FILE` (asks first; --dry-run shows every change)"
    }

    func printText() {
        print("control plane: \(survey.controlPlaneText), run by \(inventory.controlPlane.managed?.provider.displayName ?? "the provider") (read through \(survey.readThrough))")
        for worker in survey.workers { print("[\(worker.host)] kubelet \(worker.components[.kubelet]?.tag ?? "none")") }
        if let refusal { print(refusal.description); return }
        if steps.isEmpty { print("nothing to upgrade: every worker runs the target version") }
        for (i, step) in steps.enumerated() {
            print("\(i + 1). [\(step.hosts.joined(separator: ", "))] \(step.stage.rawValue) \(step.from) → \(step.to)")
            for action in step.actions { print("     - \(action)") }
        }
    }
}

extension UpgradePlanCommand {
    func planManaged(_ inventory: Inventory) async throws {
        let assessment = try await exitOnFailure(prefix: "Error: ") {
            try await LiveContext.run(inventory: inventory, mode: .plan, output: CollectingOutput()) { context in
                try await ManagedUpgradeAssessment.make(inventory, target: target, in: context)
            }
        }
        if outputOption.output == .json {
            try printUpgradeJSON(assessment.json(target))
        } else {
            assessment.printText()
            print(assessment.verdict(target))
        }
        if assessment.refusal != nil { throw ExitCode(1) }
    }
}

extension UpgradeApplyCommand {
    /// The workers of a managed cluster, in batches of maxUnavailable; the record lets a re-run continue with
    /// the batch a failure stopped in (its nodes may already run the new kubelet, yet stay cordoned).
    func managedBody(_ inventory: Inventory, _ context: WorkflowContext) async throws {
        let state = StateDirectory(inventory: inventory)
        let assessment = try await ManagedUpgradeAssessment.make(inventory, target: target, in: context)
        if outputOption.output == .text { assessment.printText() }
        guard assessment.refusal == nil, let k = SemanticVersion(parsing: target.to) else {
            if outputOption.output == .json { try printUpgradeJSON(assessment.json(target)) }
            printError("Error: the upgrade is refused (see above); nothing was changed")
            throw ExitCode(1)
        }
        var record = try loadRecord(state)
        let resuming = record?.isResumable(targetKubernetes: k.description, targetEtcd: nil) ?? false
        let steps = KubernetesUpgradeSchedule.resume(planned: assessment.steps, pending: resuming ? record?.kubernetesPending ?? [] : [],
                                                     controlPlane: [], to: k.description)
        guard !steps.isEmpty else {
            if var r = record, resuming { r.status = .completed; r.updatedAt = Date(); try await save(r, state, context) }
            print("nothing to upgrade: every worker runs \(k.tag)")
            return
        }
        if !options.dryRun { try Confirmation.require("upgrade apply", "Upgrade \(Set(steps.flatMap(\.hosts)).count) worker(s) to \(k.tag) (\(steps.count) batch(es))", yes: options.yes) }
        if !resuming {
            var fresh = UpgradeRecord(targetKubernetes: k.description, targetEtcd: nil, startedAt: Date(), previousEtcd: [:], previousEtcdSHA256: [:])
            fresh.previousKubernetes = Dictionary(uniqueKeysWithValues: assessment.survey.workers.compactMap { w in w.components[.kubelet].map { (w.host, $0.description) } })
            try await save(fresh, state, context)
            record = fresh
        }
        guard var record else { return }
        try await runKubernetes(steps, record: &record, inventory: inventory, state: state, context: context, target: k)
        record.status = .completed
        record.updatedAt = Date()
        try await save(record, state, context)
        if try await printedDryRun(context) { return }
        print("upgrade complete: kubelet \(k.tag) on \((record.kubernetesUpgraded ?? []).joined(separator: ", ")); set spec.kubernetesVersion: \(k.tag) in \(target.inventoryOption.inventory) if it does not already say so")
    }
}
