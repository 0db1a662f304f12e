import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

/// `spec.extraArgs` against the command lines apply renders: the table of reserved flags is exactly what the
/// templates write, a user value replaces a default in place and never doubles a flag.
@Suite("spec.extraArgs on the rendered command lines", .tags(.unit))
struct ComponentFlagsTests {
    static func commandLines(_ name: String, edit: (inout Inventory) -> Void = { _ in }) async throws -> [String: [String]] {
        let path = StrictStandin.repository.appendingPathComponent("inventories/\(name).yaml").path
        var inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        edit(&inventory)
        let state = NSTemporaryDirectory() + "capstan-flags-state-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let (services, _) = try await StrictStandin.rendered(inventory, state: state)
        let host = try #require(inventory.controlPlaneHosts.first?.name)
        var out: [String: [String]] = [:]
        for spec in services[host] ?? [] {
            let unit = String(decoding: spec.unitFile.content, as: UTF8.self)
            let exec = try #require(StrictStandin.execStart(unit))
            out[exec.binary] = exec.arguments
        }
        return out
    }

    static func names(_ arguments: [String]) -> [String] {
        arguments.map { String($0.dropFirst(2).prefix(while: { $0 != "=" })) }
    }

    @Test("every flag a template writes itself is reserved, and every reserved flag is one a template writes")
    func reservedIsWhatTemplatesWrite() async throws {
        let lines = try await Self.commandLines("bare-metal-ha") { $0.extraArgs = [:] }
        for component in KubernetesComponent.allCases {
            let arguments = try #require(lines[component.rawValue], "no \(component.rawValue) unit")
            let defaults = Set((ComponentFlags.defaults[component] ?? []).map(\.name))
            let written = Set(Self.names(arguments)).subtracting(defaults)
            let reserved = Set((ComponentFlags.reserved[component] ?? [:]).keys)
            #expect(written.subtracting(reserved).isEmpty, "\(component.rawValue) writes \(written.subtracting(reserved).sorted()) without reserving them")
            // Flags a template writes only in some modes (bootstrap, taints by config, external CA signing) or
            // from optional inventory keys the example leaves out.
            let conditional: Set<String> = ["bootstrap-kubeconfig", "register-with-taints", "cluster-signing-cert-file", "cluster-signing-key-file", "node-labels",
                                            "oidc-username-prefix", "oidc-ca-file"]
            #expect(reserved.subtracting(written).subtracting(conditional).isEmpty, "\(component.rawValue) reserves \(reserved.subtracting(written).sorted()) it never writes")
        }
    }

    @Test("a value from spec.extraArgs replaces the default in place; added flags come last; no flag is written twice")
    func overridesReplaceInPlace() async throws {
        let lines = try await Self.commandLines("bare-metal-ha")
        let apiServer = try #require(lines["kube-apiserver"])
        #expect(apiServer.filter { $0.hasPrefix("--audit-log-maxage=") } == ["--audit-log-maxage=90"])
        #expect(apiServer.last == "--event-ttl=4h")
        #expect(apiServer.contains("--profiling=false") && apiServer.contains("--tls-min-version=VersionTLS12"))
        let manager = try #require(lines["kube-controller-manager"])
        #expect(manager.last == "--terminated-pod-gc-threshold=1000")
        for (binary, arguments) in lines {
            let names = Self.names(arguments)
            #expect(Set(names).count == names.count, "\(binary) writes a flag twice: \(names)")
        }
        let overrides = ComponentFlags.overrides(try InventoryLoader.loadOrThrow(
            path: StrictStandin.repository.appendingPathComponent("inventories/bare-metal-ha.yaml").path, checkFiles: false).0.extraArgs)
        #expect(overrides.first { $0.name == "audit-log-maxage" }?.replacesDefault == "30")
        #expect(overrides.first { $0.name == "event-ttl" }?.replacesDefault == nil)
    }

    @Test("the kubelet's and kube-proxy's configuration files are 0600 root:root; kubeconfigs and keys 0600")
    func configurationModes() async throws {
        let path = StrictStandin.repository.appendingPathComponent("inventories/bare-metal-ha.yaml").path
        let inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        let state = NSTemporaryDirectory() + "capstan-modes-state-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let (services, files) = try await StrictStandin.rendered(inventory, state: state)
        var checked = 0
        for spec in services.values.flatMap({ $0 }) where spec.unit == "kubelet.service" || spec.unit == "kube-proxy.service" {
            for input in spec.inputs {
                #expect(input.attributes.mode == 0o600 && input.attributes.owner == "root:root", "\(spec.unit): \(input.path) is \(String(input.attributes.mode, radix: 8))")
                checked += 1
            }
        }
        #expect(checked >= 2 * inventory.workerHosts.count)
        for file in files.values.flatMap({ $0 }) where file.path.hasSuffix(".key") || file.path.hasSuffix(".conf") && file.path.hasPrefix("/etc/kubernetes/") {
            #expect(file.attributes.mode & 0o077 == 0, "\(file.path) is \(String(file.attributes.mode, radix: 8))")
        }
    }
}
