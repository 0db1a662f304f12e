import Foundation
import Inventory
import Templates
import Testing
import TestSupport
import Yams
@testable import Workflows

/// `spec.controlPlane.podSecurity`: the AdmissionConfiguration every API server gets, its flag, and the strict
/// stand-in refusing what the API server's PodSecurity validation refuses at start.
@Suite("Pod Security admission defaults on the API servers", .tags(.unit))
struct PodSecurityAdmissionTests {
    static func apiServer(_ edit: (inout Inventory) -> Void = { _ in }) async throws -> (flags: [String], admission: String?) {
        let path = StrictStandin.repository.appendingPathComponent("inventories/bare-metal-ha.yaml").path
        var inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        edit(&inventory)
        let state = NSTemporaryDirectory() + "capstan-podsecurity-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let (services, _) = try await StrictStandin.rendered(inventory, state: state)
        let host = try #require(inventory.controlPlaneHosts.first?.name)
        let spec = try #require(services[host]?.first { $0.unit == "kube-apiserver.service" })
        let exec = try #require(StrictStandin.execStart(String(decoding: spec.unitFile.content, as: UTF8.self)))
        let file = spec.inputs.first { $0.path == ControlPlaneContext.admissionConfigPath }
        if let file { #expect(file.attributes.mode == 0o600) }
        return (exec.arguments, file.map { String(decoding: $0.content, as: UTF8.self) })
    }

    @Test("the inventory's levels, version and exemptions in the file, the flag naming it, and the strict stand-in accepting it for every minor")
    func rendered() async throws {
        let (flags, admission) = try await Self.apiServer()
        #expect(flags.contains("--admission-control-config-file=/etc/kubernetes/admission-config.yaml"))
        let text = try #require(admission)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let plugin = try #require((document["plugins"] as? [[String: Any]])?.first)
        #expect(plugin["name"] as? String == "PodSecurity")
        let configuration = try #require(plugin["configuration"] as? [String: Any])
        #expect(configuration["defaults"] as? [String: String] == ["enforce": "baseline", "enforce-version": "latest", "audit": "restricted",
                                                                   "audit-version": "latest", "warn": "restricted", "warn-version": "latest"])
        let exemptions = try #require(configuration["exemptions"] as? [String: [String]])
        #expect(exemptions == ["usernames": [], "namespaces": ["kube-system"], "runtimeClasses": []])
        for version in StrictStandin.minors {
            let result = try StrictStandinRefusalTests.checkFile("AdmissionConfiguration", text, version: version)
            #expect(result.status == 0, "\(version): \(result.stderr)")
        }
    }

    @Test("exemption names are quoted and escaped; without spec.controlPlane.podSecurity there is no file and no flag")
    func escapingAndAbsence() async throws {
        let (_, admission) = try await Self.apiServer {
            $0.controlPlane.podSecurity?.exemptUsernames = ["system:serviceaccount:ci:deployer", "quote\"d"]
            $0.controlPlane.podSecurity?.version = "v1.30"
        }
        let text = try #require(admission)
        let configuration = try #require(((try Yams.load(yaml: text) as? [String: Any])?["plugins"] as? [[String: Any]])?.first?["configuration"] as? [String: Any])
        #expect((configuration["exemptions"] as? [String: [String]])?["usernames"] == ["system:serviceaccount:ci:deployer", "quote\"d"])
        #expect((configuration["defaults"] as? [String: String])?["warn-version"] == "v1.30")
        #expect(try StrictStandinRefusalTests.checkFile("AdmissionConfiguration", text).status == 0)

        let (flags, none) = try await Self.apiServer { $0.controlPlane.podSecurity = nil }
        #expect(none == nil && !flags.contains { $0.hasPrefix("--admission-control-config-file") })
    }

    @Test("the strict stand-in refuses what the API server's PodSecurity validation refuses")
    func refusals() async throws {
        let text = try #require(try await Self.apiServer().admission)
        let planted: [(String, String, String)] = [
            ("enforce: \"baseline\"", "enforce: \"strict\"", "defaults.enforce: Invalid value: \"strict\": must be one of privileged, baseline, restricted"),
            ("audit-version: \"latest\"", "audit-version: \"1.31\"", "defaults.audit-version: Invalid value: \"1.31\""),
            ("namespaces: [\"kube-system\"]", "namespaces: [\"Kube_System\"]", "exemptions.namespaces[0]: Invalid value"),
            ("namespaces: [\"kube-system\"]", "namespaces: [\"kube-system\", \"kube-system\"]", "exemptions.namespaces[1]: Duplicate value"),
            ("      exemptions:", "      exemption:", "unknown field \"exemption\""),
            ("kind: PodSecurityConfiguration", "kind: PodSecurity", "no kind \"PodSecurity\" is registered"),
            ("  - name: PodSecurity\n", "  - name: \"\"\n", "plugins[0].name: Required value"),
        ]
        try StrictStandinRefusalTests.expectRefusals("AdmissionConfiguration", text, planted)
    }
}
