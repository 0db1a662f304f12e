import Foundation
@testable import Templates
import Testing
import TestSupport

let memberContext = EtcdMemberContext(
    clusterName: "lab", name: "h1", address: "10.213.0.11",
    initialCluster: "h1=https://10.213.0.11:2380,h2=https://10.213.0.12:2380,h3=https://10.213.0.13:2380",
    initialClusterState: "new", initialClusterToken: "capstan-lab-etcd")

let backupContext = EtcdBackupContext(
    clusterName: "lab", memberName: "h2",
    members: [
        .init(name: "h1", clientURL: "https://10.213.0.11:2379"),
        .init(name: "h2", clientURL: "https://10.213.0.12:2379"),
        .init(name: "h3", clientURL: "https://10.213.0.13:2379"),
    ],
    schedule: "*-*-* 02:00:00", randomizedDelaySeconds: 600, keep: 7)

/// Rendered output of every etcd template, compared with the files in Golden/.
/// Set CAPSTAN_UPDATE_GOLDEN=1 to rewrite them after an intended template change.
let goldenCases: [(template: String, golden: String, render: @Sendable (TemplateRenderer) throws -> String)] = [
    ("etcd/etcd.service", "etcd.service", { try $0.render("etcd/etcd.service", context: memberContext) }),
    ("etcd/etcd.env", "etcd.env", { try $0.render("etcd/etcd.env", context: memberContext) }),
    ("etcd/etcd-backup.service", "etcd-backup.service", { try $0.render("etcd/etcd-backup.service", context: backupContext) }),
    ("etcd/etcd-backup.timer", "etcd-backup.timer", { try $0.render("etcd/etcd-backup.timer", context: backupContext) }),
    ("etcd/etcd-backup.sh", "etcd-backup.sh", { try $0.render("etcd/etcd-backup.sh", context: backupContext) }),
]

func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "capstan-templates-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite("TemplateRenderer", .tags(.unit))
struct TemplateRendererTests {
    @Test("renders every etcd template exactly as its golden file", arguments: goldenCases.indices)
    func golden(_ index: Int) throws {
        let c = goldenCases[index]
        let rendered = try c.render(TemplateRenderer())
        try expectGolden(rendered, golden: c.golden, template: c.template)
    }

    @Test("puts TLS, peer auth, metrics and quota flags into the etcd unit without escaping")
    func unitFlags() throws {
        var context = memberContext
        context.extraFlags = ["--experimental-initial-corrupt-check=true", "--log-level=warn"]
        let unit = try TemplateRenderer().render("etcd/etcd.service", context: context)
        for flag in ["Type=notify", "User=etcd", "--client-cert-auth=true", "--peer-client-cert-auth=true",
                     "--listen-metrics-urls=http://127.0.0.1:2381", "--cert-file=/etc/kubernetes/pki/etcd/server.crt",
                     "--listen-client-urls=https://10.213.0.11:2379,https://127.0.0.1:2379",
                     "  --log-level=warn\n", "Restart=on-failure", "LimitNOFILE=65536"] {
            #expect(unit.contains(flag), "missing \(flag)")
        }
        #expect(!unit.contains("&#"))
        #expect(!unit.contains("{{"))
    }

    @Test("a file in the override directory wins over the default")
    func override() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/etcd", withIntermediateDirectories: true)
        try "custom {{name}}\n".write(toFile: dir + "/etcd/etcd.env", atomically: true, encoding: .utf8)
        let renderer = TemplateRenderer(overrideDirectory: dir)
        #expect(try renderer.render("etcd/etcd.env", context: memberContext) == "custom h1\n")
        #expect(try renderer.location(of: "etcd/etcd.service").hasPrefix(TemplateRenderer.bundledDirectory))
    }

    @Test("a variable missing from the context is an error naming it, not an empty value")
    func missingValue() throws {
        #expect(throws: TemplateError.missingValues(file: "t", names: ["dataDri"])) {
            try TemplateRenderer.render(text: "--data-dir={{dataDri}}\n{{#opt}}{{inner}}{{/opt}}", named: "t", values: ["dataDir": "/x"])
        }
    }

    @Test("reports syntax errors with file, line and column")
    func syntaxError() throws {
        do {
            _ = try TemplateRenderer.render(text: "a\nb {{#open}}\n", named: "broken.service", values: [:])
            Issue.record("expected a syntax error")
        } catch let error as TemplateError {
            guard case let .syntax(file, line, _, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(file == "broken.service")
            #expect(line >= 2)
        }
    }

    @Test("rejects template names that leave the template directory")
    func invalidName() {
        #expect(throws: TemplateError.invalidName("../etc/passwd")) { try TemplateRenderer().location(of: "../etc/passwd") }
        #expect(throws: (any Error).self) { try TemplateRenderer().location(of: "etcd/none.service") }
    }

    @Test("systemd-analyze verify accepts the rendered etcd and backup units")
    func systemdVerify() throws {
        let which = try runProgram(["sh", "-c", "command -v systemd-analyze"])
        try #require(which.status == 0, "systemd-analyze is not installed (scripts/prereqs.sh installs systemd)")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The units point at executables; give them real ones in a temporary bin directory.
        for exe in ["etcd", "etcd-backup.sh"] {
            try "#!/bin/sh\n".write(toFile: dir + "/" + exe, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/" + exe)
        }
        var member = memberContext
        member.binDir = dir
        var backup = backupContext
        backup.scriptPath = dir + "/etcd-backup.sh"
        let r = TemplateRenderer()
        try r.render("etcd/etcd.service", context: member).write(toFile: dir + "/etcd.service", atomically: true, encoding: .utf8)
        try r.render("etcd/etcd-backup.service", context: backup).write(toFile: dir + "/etcd-backup.service", atomically: true, encoding: .utf8)
        try r.render("etcd/etcd-backup.timer", context: backup).write(toFile: dir + "/etcd-backup.timer", atomically: true, encoding: .utf8)
        let result = try runProgram(["systemd-analyze", "verify", "--man=no", dir + "/etcd.service", dir + "/etcd-backup.service", dir + "/etcd-backup.timer"])
        let complaints = result.output.split(separator: "\n").filter { $0.contains(dir) }
        #expect(result.status == 0, "\(result.output)")
        #expect(complaints.isEmpty, "\(complaints)")
    }

    @Test("the rendered backup script is valid POSIX sh")
    func backupScriptSyntax() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = try TemplateRenderer().render("etcd/etcd-backup.sh", context: backupContext)
        try script.write(toFile: dir + "/b.sh", atomically: true, encoding: .utf8)
        let result = try runProgram(["sh", "-n", dir + "/b.sh"])
        #expect(result.status == 0, "\(result.output)")
        #expect(script.contains("h1 https://10.213.0.11:2379\nh2 https://10.213.0.12:2379\nh3"))
        #expect(script.contains("export ETCDCTL_CACERT=/etc/kubernetes/pki/etcd/ca.crt"))
    }

    struct Values: Encodable {
        var text = "quote \" backslash \\ tab\t newline\n é ✓ 😀 \u{01}"
        var flag = true
        var off = false
        var count = 3
        var ratio = 0.25
        var missing: String? = nil
        var list = [1, 2]
        var nested = ["a": ["b": "c"]]
    }

    @Test("contexts become plain values: strings byte for byte, booleans as Bool, integers as Int, nested objects and arrays")
    func contextValues() throws {
        let values = try TemplateValues.dictionary(from: Values(), template: "t")
        #expect(values["text"] as? String == Values().text)
        #expect(values["flag"] as? Bool == true && values["off"] as? Bool == false)
        #expect(values["count"] as? Int == 3 && values["ratio"] as? Double == 0.25)
        #expect(values["missing"] == nil)
        #expect((values["list"] as? [Any])?.compactMap { $0 as? Int } == [1, 2])
        #expect(((values["nested"] as? [String: Any])?["a"] as? [String: Any])?["b"] as? String == "c")
        let rendered = try TemplateRenderer.render(text: "{{#flag}}on{{/flag}}{{^off}} not-off{{/off}} {{count}} {{text}}", named: "t", values: values)
        #expect(rendered == "on not-off 3 \(Values().text)")
        #expect(throws: TemplateError.self) { try JSONValues.parse(Data("{\"a\": tru}".utf8), template: "t") }
        #expect(throws: TemplateError.self) { try JSONValues.parse(Data("[1, 2".utf8), template: "t") }
    }
}
