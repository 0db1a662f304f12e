import ArgumentParser
import Foundation
import Inventory
import PKI
import Workflows

/// How `upgrade plan` and `upgrade apply` show a managed cluster's assessment.
extension ManagedUpgradeAssessment {
    /// The provider runs etcd, so `--etcd` is refused; `--to` is the kubelets' target.
    static func target(_ inventory: Inventory, _ target: UpgradeTargetOptions) throws -> SemanticVersion {
        if target.etcd != nil {
            throw ValidationError("--etcd: \(inventory.name) is managed; the provider runs its etcd")
        }
        guard let k = SemanticVersion(parsing: target.to) else { throw ValidationError("--to \(target.to) is not a version like v1.31.4") }
        return k
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
                try await ManagedUpgradeAssessment.make(inventory, kubernetes: try ManagedUpgradeAssessment.target(inventory, target), in: context)
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
    /// The workers of a managed cluster, in batches of maxUnavailable (`UpgradeOperation`).
    func managedBody(_ inventory: Inventory, _ context: WorkflowContext) async throws {
        let k = try ManagedUpgradeAssessment.target(inventory, target)
        let assessment = try await ManagedUpgradeAssessment.make(inventory, kubernetes: k, in: context)
        if outputOption.output == .text { assessment.printText() }
        guard !assessment.blocked else {
            if outputOption.output == .json { try printUpgradeJSON(assessment.json(target)) }
            printError("Error: the upgrade is refused (see above); nothing was changed")
            throw ExitCode(1)
        }
        let operation = options.operation(inventory)
        let schedule = try operation.schedule(assessment, kubernetes: k)
        guard !schedule.isEmpty else {
            try await operation.closeRecord(schedule, in: context)
            print("nothing to upgrade: every worker runs \(k.tag)")
            return
        }
        if !options.dryRun { try Confirmation.require("upgrade apply", "Upgrade \(Set(schedule.kubernetesSteps.flatMap(\.hosts)).count) worker(s) to \(k.tag) (\(schedule.count) batch(es))", yes: options.yes) }
        let record = try await stopping(inventory, k) { try await operation.run(schedule, managed: assessment, in: context) }
        if try await printedDryRun(context) { return }
        print("upgrade complete: kubelet \(k.tag) on \((record.kubernetesUpgraded ?? []).joined(separator: ", ")); set spec.kubernetesVersion: \(k.tag) in \(target.inventoryOption.inventory) if it does not already say so")
    }
}
