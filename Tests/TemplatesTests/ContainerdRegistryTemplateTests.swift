import Foundation
import Templates
import Testing
import TestSupport

@Suite("containerd registry configuration", .tags(.unit))
struct ContainerdRegistryTemplateTests {
    /// Python's tomllib (TOML 1.0) reads the rendered file and prints it back as JSON.
    func parseTOML(_ text: String) throws -> [String: Any] {
        let parsed = try runProgram(["python3", "-c", "import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))"], input: Data(text.utf8))
        #expect(parsed.succeeded, "tomllib refused the file: \(parsed.stderr)\n\(text)")
        return (try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("config.toml with credentials is valid TOML: config_path set, each host's auth read back byte for byte")
    func configWithAuth() throws {
        let text = try TemplateRenderer().render("containerd/config.toml", context: authRuntimeContext)
        let toml = try parseTOML(text)
        let cri = (toml["plugins"] as? [String: Any])?["io.containerd.grpc.v1.cri"] as? [String: Any]
        #expect(cri?["sandbox_image"] as? String == "registry.k8s.io/pause:3.9")
        let registry = cri?["registry"] as? [String: Any]
        #expect(registry?["config_path"] as? String == "/etc/containerd/certs.d")
        let configs = registry?["configs"] as? [String: [String: [String: String]]]
        #expect(configs?.keys.sorted() == ["harbor.example.com:5000", "mirror.example.com"])
        #expect(configs?["harbor.example.com:5000"]?["auth"]?["password"] == #"p"a\ss"#)
        #expect(configs?["mirror.example.com"]?["auth"]?["username"] == "robot$ci")
        let plain = try parseTOML(try TemplateRenderer().render("containerd/config.toml", context: runtimeContext))
        let plainRegistry = ((plain["plugins"] as? [String: Any])?["io.containerd.grpc.v1.cri"] as? [String: Any])?["registry"] as? [String: Any]
        #expect(plainRegistry?["configs"] == nil)
    }

    @Test("hosts.toml is valid TOML in containerd's schema: server, mirrors in order with pull/resolve, CA or skip_verify")
    func hostsFile() throws {
        let text = try TemplateRenderer().render("containerd/hosts.toml", context: registryHostsContext)
        let toml = try parseTOML(text)
        #expect(toml["server"] as? String == "https://registry.k8s.io")
        #expect(toml["ca"] as? String == "/etc/containerd/certs.d/registry.k8s.io/ca.crt")
        let hosts = toml["host"] as? [String: [String: Any]]
        #expect(hosts?.keys.sorted() == ["http://10.0.0.5:5000", "https://mirror.example.com:5000"])
        #expect(hosts?["https://mirror.example.com:5000"]?["capabilities"] as? [String] == ["pull", "resolve"])
        // tomllib keeps table order: the mirrors are tried in the order written.
        #expect(text.range(of: "mirror.example.com")!.lowerBound < text.range(of: "10.0.0.5")!.lowerBound)
        let hub = try parseTOML(try TemplateRenderer().render("containerd/hosts.toml", context: dockerHubHostsContext))
        #expect(hub["skip_verify"] as? Bool == true && hub["ca"] == nil)
        #expect((hub["host"] as? [String: [String: Any]])?["https://hub-mirror.example.com"]?["skip_verify"] as? Bool == true)
    }

    @Test("TOML basic strings escape quotes, backslashes and control characters")
    func escaping() {
        #expect(TOML.basicString(#"a"b\c"#) == #"a\"b\\c"#)
        #expect(TOML.basicString("x\ny\u{01}") == #"x\ny\u0001"#)
    }
}
