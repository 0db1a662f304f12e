import Inventory
import Testing
import TestSupport
@testable import Workflows

@Suite("Managed clusters: worker upgrades within the provider's skew", .tags(.unit))
struct ManagedUpgradePlannerTests {
    func worker(_ name: String, _ kubelet: SemanticVersion?) -> HostVersions {
        HostVersions(host: name, roles: [.worker], components: kubelet.map { [.kubelet: $0] } ?? [:])
    }

    func refusal(_ body: () throws(UpgradeRefusal) -> [UpgradeStep]) -> UpgradeRefusal? {
        do { _ = try body(); return nil } catch { return error }
    }

    @Test("workers below the target go in batches of maxUnavailable; those at the target are left out")
    func batches() throws {
        let workers = [worker("w1", SemanticVersion(1, 30, 8)), worker("w2", SemanticVersion(1, 30, 8)),
                       worker("w3", SemanticVersion(1, 31, 4)), worker("w4", SemanticVersion(1, 31, 0)), worker("w5", SemanticVersion(1, 30, 2))]
        let steps = try ManagedUpgradePlanner.plan(workers: workers, controlPlane: SemanticVersion(1, 31, 4), target: SemanticVersion(1, 31, 4),
                                                   maxUnavailable: .count(2))
        #expect(steps.map(\.hosts) == [["w1", "w2"], ["w4", "w5"]])
        #expect(steps.allSatisfy { $0.stage == .workers && $0.to == "1.31.4" })
        #expect(steps.map(\.from) == ["1.30.8", "1.31.0"])
        #expect(steps[0].actions.first == "cordon" && steps[0].actions.last == "uncordon")
        // 40% of 5 workers: 2 at a time.
        let percent = try ManagedUpgradePlanner.plan(workers: workers, controlPlane: SemanticVersion(1, 31, 4), target: SemanticVersion(1, 31, 4),
                                                     maxUnavailable: .percent(40))
        #expect(percent.map(\.hosts.count) == [2, 2])
        #expect(try ManagedUpgradePlanner.plan(workers: [worker("w3", SemanticVersion(1, 31, 4))], controlPlane: SemanticVersion(1, 31, 4),
                                               target: SemanticVersion(1, 31, 4), maxUnavailable: .count(1)).isEmpty)
    }

    @Test("refused: a kubelet newer than the provider's API server, more than three minors behind it, a skipped minor, a downgrade, a worker not joined")
    func refusals() throws {
        let cp = SemanticVersion(1, 31, 4)
        let newer = try #require(refusal { () throws(UpgradeRefusal) in
            try ManagedUpgradePlanner.plan(workers: [worker("w1", SemanticVersion(1, 31, 4))], controlPlane: cp, target: SemanticVersion(1, 32, 0), maxUnavailable: .count(1))
        })
        #expect(newer.reason.contains("newer than the provider's API server v1.31.4") && newer.next.contains("upgrade the control plane with the provider"))
        let patchAhead = try #require(refusal { () throws(UpgradeRefusal) in
            try ManagedUpgradePlanner.plan(workers: [worker("w1", SemanticVersion(1, 31, 0))], controlPlane: cp, target: SemanticVersion(1, 31, 5), maxUnavailable: .count(1))
        })
        #expect(patchAhead.reason.contains("newer than the provider's API server"))
        let tooOld = try #require(refusal { () throws(UpgradeRefusal) in
            try ManagedUpgradePlanner.plan(workers: [worker("w1", SemanticVersion(1, 26, 0))], controlPlane: cp, target: SemanticVersion(1, 27, 3), maxUnavailable: .count(1))
        })
        #expect(tooOld.reason.contains("more than 3 minor versions older") && tooOld.next.contains("v1.28.x"))
        let skip = try #require(refusal { () throws(UpgradeRefusal) in
            try ManagedUpgradePlanner.plan(workers: [worker("w1", SemanticVersion(1, 29, 1))], controlPlane: cp, target: SemanticVersion(1, 31, 4), maxUnavailable: .count(1))
        })
        #expect(skip.reason.contains("w1 runs kubelet v1.29.1") && skip.next.contains("v1.30.x first"))
        let down = try #require(refusal { () throws(UpgradeRefusal) in
            try ManagedUpgradePlanner.plan(workers: [worker("w1", SemanticVersion(1, 31, 4))], controlPlane: cp, target: SemanticVersion(1, 30, 8), maxUnavailable: .count(1))
        })
        #expect(down.reason.contains("never goes down"))
        let unjoined = try #require(refusal { () throws(UpgradeRefusal) in
            try ManagedUpgradePlanner.plan(workers: [worker("w1", nil)], controlPlane: cp, target: SemanticVersion(1, 31, 4), maxUnavailable: .count(1))
        })
        #expect(unjoined.reason.contains("w1 runs no kubelet"))
    }

    @Test("the provider's /version: its build suffix is dropped for the skew check; a non-version answer is an error")
    func providerVersion() throws {
        let body = #"{"major":"1","minor":"31","gitVersion":"v1.31.4-eks-2d5f260","platform":"linux/amd64"}"#
        let text = try ManagedUpgradeSurvey.apiServerVersion(body, endpoint: "https://api.example:443")
        #expect(text == "v1.31.4-eks-2d5f260")
        #expect(ManagedUpgradeSurvey.releaseVersion(text) == SemanticVersion(1, 31, 4))
        // With the suffix kept, v1.31.4 would count as newer than the provider's build and be refused.
        #expect(try ManagedUpgradePlanner.plan(workers: [worker("w1", SemanticVersion(1, 31, 0))], controlPlane: try #require(ManagedUpgradeSurvey.releaseVersion(text)),
                                               target: SemanticVersion(1, 31, 4), maxUnavailable: .count(1)).count == 1)
        #expect(throws: WorkflowError.self) { try ManagedUpgradeSurvey.apiServerVersion("<html>forbidden</html>", endpoint: "https://api.example:443") }
    }
}
