import Foundation
import Inventory
import Testing
import TestSupport
@testable import Workflows

/// `spec.controlPlane.oidc`: the API servers' --oidc-* flags and the issuer's CA file, through the strict stand-in.
@Suite("OpenID Connect settings on the API servers", .tags(.unit))
struct OIDCTests {
    @Test("flags from the inventory, the CA placed at its host path, the invocation accepted by the strict stand-in; an http issuer or a missing CA refused as the API server refuses them")
    func rendered() async throws {
        let dir = NSTemporaryDirectory() + "capstan-oidc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = StrictStandin.repository.appendingPathComponent("inventories/bare-metal-ha.yaml").path
        var inventory = try InventoryLoader.loadOrThrow(path: path, checkFiles: false).0
        // Any CA certificate serves as the issuer's: the state's cluster CA, made by the PKI phase below.
        let state = dir + "/state"
        let (first, _) = try await StrictStandin.rendered(inventory, state: state)
        #expect(first.isEmpty == false)
        let pem = try String(contentsOfFile: state + "/pki/ca.crt", encoding: .utf8)
        try pem.write(toFile: dir + "/sso-ca.crt", atomically: true, encoding: .utf8)
        inventory.controlPlane.oidc?.caFile = dir + "/sso-ca.crt"

        let (services, files) = try await StrictStandin.rendered(inventory, state: state)
        let host = try #require(inventory.controlPlaneHosts.first?.name)
        let spec = try #require(services[host]?.first { $0.unit == "kube-apiserver.service" })
        let exec = try #require(StrictStandin.execStart(String(decoding: spec.unitFile.content, as: UTF8.self)))
        let oidc = exec.arguments.filter { $0.hasPrefix("--oidc-") }
        #expect(oidc == ["--oidc-issuer-url=https://sso.example.com/realms/prod", "--oidc-client-id=kubernetes", "--oidc-username-claim=email",
                         "--oidc-groups-claim=groups", "--oidc-groups-prefix=oidc:", "--oidc-ca-file=/etc/kubernetes/pki/oidc-ca.crt"], "\(oidc)")
        let ca = try #require(spec.inputs.first { $0.path == OIDCSpec.hostCAPath })
        #expect(String(decoding: ca.content, as: UTF8.self) == pem)

        let root = try StrictStandin.materialize(files[host] ?? [])
        defer { try? FileManager.default.removeItem(atPath: root) }
        for version in StrictStandin.minors {
            let accepted = try StrictStandin.check("kube-apiserver", version, root: root, exec.arguments)
            #expect(accepted.status == 0, "\(version): \(accepted.stderr)")
        }
        let http = exec.arguments.map { $0.hasPrefix("--oidc-issuer-url=") ? "--oidc-issuer-url=http://sso.example.com" : $0 }
        let refusedHTTP = try StrictStandin.check("kube-apiserver", "1.31.0", root: root, http)
        #expect(refusedHTTP.status != 0 && refusedHTTP.stderr.contains("require 'https'"), "\(refusedHTTP.stderr)")
        try FileManager.default.removeItem(atPath: root + OIDCSpec.hostCAPath)
        let refusedCA = try StrictStandin.check("kube-apiserver", "1.31.0", root: root, exec.arguments)
        #expect(refusedCA.status != 0 && refusedCA.stderr.contains("--oidc-ca-file"), "\(refusedCA.stderr)")
    }
}
