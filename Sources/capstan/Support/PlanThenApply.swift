import Foundation
import Inventory
import Workflows

extension Confirmation {
    /// A rollout through a live cluster (`secrets rotate-key`, `certs rotate-sa-key`): the workflow's own path
    /// in plan mode first, its planned actions and notes printed under "`command` plan (nothing changed yet):",
    /// then the question (skipped with `yes`; `dryRun` stops after the plan), then the same path in apply mode
    /// with live output, whose result `applied` reports. Both passes check the hosts' cluster identity first.
    static func planThenApply<Result>(_ command: String, question: String, inventory: Inventory, yes: Bool, dryRun: Bool,
                                      _ run: (_ ctx: WorkflowContext) async throws -> Result,
                                      applied: (Result) -> Void) async throws {
        if !yes || dryRun {
            let collected = CollectingOutput()
            try await exitOnFailure {
                _ = try await LiveContext.run(inventory: inventory, mode: .plan, output: collected, checkIdentity: true) { try await run($0) }
            }
            print("\(command) plan (nothing changed yet):")
            for event in collected.events where [.planned, .warning, .note, .message].contains(event.kind) {
                print("  " + (event.host.map { "[\($0)] " } ?? "") + event.message)
            }
            if dryRun { return }
            try require(command, question, yes: false)
        }
        let result = try await exitOnFailure {
            try await LiveContext.run(inventory: inventory, mode: .apply, output: LiveContext.output(.text), checkIdentity: true) { try await run($0) }
        }
        applied(result)
    }
}
