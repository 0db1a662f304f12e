import Foundation
import Inventory
import Testing
import TestSupport

/// The per-minor feature-gate tables (`Sources/Inventory/FeatureGates/`), the inventory's verdict on a gate
/// setting, and the strict stand-in's: all three must agree, because the stand-in is what tells the lab that a
/// setting Capstan let through would have stopped the real binary.
@Suite("feature gates: the tables per minor, the inventory and the strict stand-in agree", .tags(.unit))
struct FeatureGateTests {
    static let minors = SupportedVersions.kubernetes.map(\.minor)

    @Test("each table holds the gates upstream registered at that minor, with the sources it was read from")
    func tables() throws {
        for minor in Self.minors {
            let table = try #require(FeatureGateTable.load(minor: minor), "no table for 1.\(minor)")
            #expect(table.gates.count > 150, "1.\(minor) has only \(table.gates.count) gates")
            #expect(table.gates["AllAlpha"] != nil && table.gates["AllBeta"] != nil)
            // Facts from the upstream maps: SidecarContainers is Beta and on by default from 1.29 to 1.32; APIListChunking
            // went GA (locked) in 1.29; a constant's string, not its Go name, is the gate (CPUCFSQuotaPeriod).
            #expect(table.gates["SidecarContainers"] == .init(default: true, stage: "Beta", locked: false))
            #expect(table.gates["APIListChunking"] == .init(default: true, stage: "GA", locked: true))
            #expect(table.gates["CustomCPUCFSQuotaPeriod"] != nil && table.gates["CPUCFSQuotaPeriod"] == nil)
            let url = StrictStandin.repository.appendingPathComponent("Sources/Inventory/FeatureGates/kubernetes-1.\(minor).json")
            let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
            let sources = try #require(file["sources"] as? [[String: Any]])
            let main = sources.filter { ($0["path"] as? String)?.hasSuffix("pkg/features/kube_features.go") == true && $0["module"] != nil }
            #expect(main.count == 1 && (main.first?["module"] as? String)?.contains("k8s.io/kubernetes v1.\(minor).") == true, "1.\(minor): \(main)")
            for source in sources where source["module"] == nil {
                #expect(source["ref"] as? String == "v0.\(minor).0", "\(source)")
            }
        }
        // Gates that arrived within the supported window.
        #expect(FeatureGateTable.load(minor: 29)?.gates["WatchListClient"] == nil)
        #expect(FeatureGateTable.load(minor: 30)?.gates["WatchListClient"] != nil)
        #expect(FeatureGateTable.load(minor: 31)?.gates["SELinuxChangePolicy"] == nil)
        #expect(FeatureGateTable.load(minor: 32)?.gates["SELinuxChangePolicy"] != nil)
    }

    @Test("for every gate of every minor the inventory and the strict stand-in agree: defaults pass, locked gates set against their default and gates of other minors stop the binary")
    func inventoryAndStandinAgree() throws {
        var jobs: [StrictStandin.Job] = []
        var verdicts: [(setting: String, accepted: Bool)] = []
        let everyGate = Set(Self.minors.flatMap { FeatureGateTable.load(minor: $0)?.gates.keys.map { $0 } ?? [] })
        for minor in Self.minors {
            let table = try #require(FeatureGateTable.load(minor: minor))
            var settings = table.gates.map { ($0.key, $0.value.default) }
            settings += table.gates.filter(\.value.locked).map { ($0.key, !$0.value.default) }
            settings += everyGate.subtracting(table.gates.keys).map { ($0, true) }
            settings += [("SidecarContainer", true), ("NoSuchGate", false)]
            for (name, value) in settings {
                let setting = "\(name)=\(value)"
                jobs.append(.init(binary: "kube-scheduler", version: "1.\(minor).0", arguments: ["--feature-gates=\(setting)"]))
                verdicts.append(("1.\(minor) \(setting)", table.problem(name: name, value: value) == nil))
            }
        }
        #expect(verdicts.contains { !$0.accepted } && verdicts.contains(where: \.accepted))
        for (verdict, result) in zip(verdicts, try StrictStandin.checkAll(jobs)) {
            #expect((result.status == 0) == verdict.accepted, "\(verdict.setting): inventory \(verdict.accepted ? "accepts" : "refuses"), stand-in: \(result.stderr)")
        }
    }

    @Test("--feature-gates is read as featureGate.Set reads it; the kube: prefix only where 1.32's component registry takes it")
    func parsing() throws {
        let parsed = try FeatureGateTable.parse(" A=true, ,B=f,", kubePrefix: false).get()
        #expect(parsed.map(\.name) == ["A", "B"] && parsed.map(\.value) == [true, false])
        #expect(try FeatureGateTable.parse("kube:A=1,kube:B=0", kubePrefix: true).get().map(\.name) == ["A", "B"])
        for (text, prefix, words) in [("A", false, "missing bool value for A"), ("A=yes", false, "invalid value of A=yes"),
                                      ("kube:A=true", false, "without a component prefix"), ("sched:A=true", true, "component not registered: sched"),
                                      ("kube:A=true,B=true", true, "or none of them")] {
            guard case .failure(let problem) = FeatureGateTable.parse(text, kubePrefix: prefix) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(problem.description.contains(words), "\(text): \(problem)")
        }
        let results = try StrictStandin.checkAll([
            .init(binary: "kube-apiserver", version: "1.32.0", arguments: ["--feature-gates=kube:SidecarContainers=true"]),
            .init(binary: "kube-apiserver", version: "1.32.0", arguments: ["--feature-gates=kube:SidecarContainers=true,AllBeta=false"]),
            .init(binary: "kubelet", version: "1.32.0", arguments: ["--feature-gates=kube:SidecarContainers=true"]),
        ])
        #expect(results.map(\.status) == [0, 1, 1], "\(results.map(\.stderr))")
    }
}
