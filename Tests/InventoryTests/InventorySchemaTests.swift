import Foundation
import Testing
import TestSupport
import Yams
@testable import Inventory

@Suite("Inventory schema", .tags(.unit))
struct InventorySchemaTests {
    @Test("every key written in the example inventories is in the schema", arguments: TestPaths.yamlFiles(in: TestPaths.inventories))
    func examplesResolve(name: String) throws {
        let text = try String(contentsOf: TestPaths.inventories.appendingPathComponent(name), encoding: .utf8)
        let root = try #require(try Yams.compose(yaml: text))
        var missing: [String] = []
        var seen = 0
        func walk(_ node: Node, container: String) {
            switch node {
            case .mapping(let m):
                for (k, v) in m {
                    guard let written = k.scalar?.string else { continue }
                    let path = container.isEmpty ? written : container + "." + written
                    guard let key = InventorySchema.key(path) else { missing.append(path); continue }
                    seen += 1
                    if case .names = key.type {
                        if InventorySchema.children(of: key.path).count != 1 { missing.append(key.path + ".<key>") }
                        continue
                    }
                    walk(v, container: key.path)
                }
            case .sequence(let s):
                for item in s { walk(item, container: container + "[]") }
            default:
                break
            }
        }
        walk(root, container: "")
        #expect(missing.isEmpty, "keys of \(name) missing from InventorySchema: \(missing)")
        #expect(seen > 10)
    }

    @Test("the schema is a tree: unique paths, every parent a mapping or a list of mappings, every enum from its type")
    func wellFormed() {
        let paths = InventorySchema.keys.map(\.path)
        #expect(Set(paths).count == paths.count, "duplicate paths")
        for key in InventorySchema.keys where !key.parentPath.isEmpty {
            let owner = key.parentPath.hasSuffix("[]") ? String(key.parentPath.dropLast(2)) : key.parentPath
            let parent = InventorySchema.key(owner)
            #expect(parent != nil, "\(key.path): no parent \(owner)")
            switch parent?.type {
            case .mapping?: #expect(!key.parentPath.hasSuffix("[]"), "\(key.path)")
            case .list(.mapping)?: #expect(key.parentPath.hasSuffix("[]"), "\(key.path)")
            case .names?: #expect(key.name == "<key>", "\(key.path)")
            default: Issue.record("\(key.path): parent \(owner) holds no keys")
            }
            #expect(!key.summary.isEmpty && !key.example.isEmpty, "\(key.path)")
        }
        for key in InventorySchema.keys {
            switch key.type {
            case .mapping, .list(.mapping), .names: #expect(!InventorySchema.children(of: key.path).isEmpty, "\(key.path): a mapping without keys")
            default: #expect(InventorySchema.children(of: key.path).isEmpty, "\(key.path): a scalar with keys")
            }
        }
        #expect(InventorySchema.keys(under: "spec.hosts[3].ssh") == InventorySchema.keys(under: "spec.ssh"))
        #expect(InventorySchema.requiredKeys(under: "spec.hosts[0]") == ["name", "address", "roles"])
    }

    /// For each key: an inventory that sets it to its documented example (with the required keys around it).
    @Test("the parser accepts and reads every schema key with its documented example value")
    func parserAcceptsEveryKey() throws {
        var failures: [String] = []
        // componentConfig's keys are the fields of a Go type, not names the user picks: the parent's example
        // sets real ones (maxPods, conntrack), and the label key below is no field.
        for key in InventorySchema.keys where !(key.path.hasPrefix("spec.componentConfig.") && key.name == "<key>") {
            var doc = Self.base
            for extra in Self.context[key.path] ?? [] { doc.set(Self.components(extra.path), .raw(extra.yaml)) }
            doc.set(Self.components(key.path), .raw(key.example))
            let text = doc.yaml()
            let reader = YAMLReader(file: "schema-\(key.name).yaml")
            let root = try #require(try Yams.compose(yaml: text))
            _ = InventoryParser(reader: reader, sourcePath: "schema-\(key.name).yaml", checkFiles: false).parse(root)
            let concrete = key.path.replacingOccurrences(of: "[]", with: "[0]").replacingOccurrences(of: "<key>", with: Self.userKey(in: key.path))
            let bad = reader.diagnostics.filter { d in
                d.message.contains("unknown key") || (d.severity == .error && [":", ".", "["].contains { d.message.hasPrefix(concrete + $0) })
            }
            if !bad.isEmpty { failures.append("\(key.path): \(bad.map(\.message))\n\(text)") }
            // Label keys are read by walking the mapping, not one by one.
            if key.name != "<key>", !reader.readPaths.contains(concrete) { failures.append("\(key.path): accepted but never read by the parser\n\(text)") }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test("the parser rejects a key the schema does not list, with the schema's keys as the choices")
    func parserRejectsOthers() {
        var doc = Self.base
        doc.set(["spec", "network", "dnsDomain"], .raw("cluster.local"))
        let result = InventoryLoader.load(text: doc.yaml(), path: "x.yaml", checkFiles: false)
        let expected = "spec.network: unknown key 'dnsDomain' (expected one of: " + InventorySchema.keys(under: "spec.network").joined(separator: ", ") + ")"
        #expect(result.errors.map(\.message) == [expected])
    }

    @Test("lookup reads paths with [], indices, no brackets, without spec, and label keys with dots")
    func lookup() {
        for written in ["spec.hosts[].ssh.port", "spec.hosts[2].ssh.port", "spec.hosts.ssh.port", "hosts.ssh.port"] {
            #expect(InventorySchema.lookup(written) == .key(InventorySchema.key("spec.hosts[].ssh.port")!), "\(written)")
        }
        #expect(InventorySchema.lookup("spec.hosts.labels.topology.kubernetes.io/zone") == .key(InventorySchema.key("spec.hosts[].labels.<key>")!))
        #expect(InventorySchema.lookup("") == .root)
        #expect(InventorySchema.lookup("spec.etcd.bakup") == .unknown(name: "bakup", parent: "spec.etcd", suggestion: "backup"))
        #expect(InventorySchema.lookup("spec.hosts.adress") == .unknown(name: "adress", parent: "spec.hosts[]", suggestion: "address"))
        #expect(InventorySchema.lookup("nothing") == .unknown(name: "nothing", parent: "", suggestion: nil))
    }

    // MARK: generated inventories

    static let labelKey = "example.com/zone"
    /// `spec.concurrency.phases` takes phase names as its keys, every other `<key>` a label-like name.
    static let phaseKey = "node-runtime"
    static func userKey(in path: String) -> String { path.hasPrefix("spec.concurrency.phases.") ? phaseKey : labelKey }

    /// Settings some keys only take together with others (cross-field rules of the parser).
    static let context: [String: [(path: String, yaml: String)]] = {
        let managed: [(path: String, yaml: String)] = [
            ("spec.controlPlane.mode", "managed"),
            ("spec.controlPlane.managed", "{provider: eks, apiEndpoint: https://api.example.com, caFile: ca.crt, joinCredentials: {bootstrapTokenFile: token}}"),
            ("spec.hosts", "[{name: w1, address: 10.0.0.21, roles: [worker]}]"),
        ]
        let vip: [(path: String, yaml: String)] = [("spec.controlPlane.loadBalancer", "vip"), ("spec.controlPlane.endpoint", "10.0.0.10:6443")]
        var c: [String: [(path: String, yaml: String)]] = [
            "spec.controlPlane.mode": managed.filter { $0.path != "spec.controlPlane.mode" },
            "spec.controlPlane.localBalancerPort": [("spec.controlPlane.loadBalancer", "node-local")],
            "spec.controlPlane.loadBalancer": [("spec.controlPlane.endpoint", "10.0.0.10:6443")],
            "spec.controlPlane.vip": vip,
            "spec.etcd.topology": [("spec.hosts", "[{name: cp1, address: 10.0.0.11, roles: [control-plane, worker]}, {name: e1, address: 10.0.0.31, roles: [etcd]}]")],
            "spec.artifacts.url": [("spec.artifacts.source", "mirror")],
            "spec.artifacts.directory": [("spec.artifacts.source", "local")],
            "spec.artifacts.source": [("spec.artifacts.directory", "bundle")],
            "spec.etcd.backup.destination.sftp.uploadIdentityFile": [("spec.etcd.backup.destination.sftp.user", "backup-admin")],
            "spec.etcd.backup.destination.sftp.uploadUser": [("spec.etcd.backup.destination.sftp.uploadIdentityFile", "etcd-upload.key")],
        ]
        for key in InventorySchema.keys where key.path.hasPrefix("spec.controlPlane.vip.") { c[key.path] = vip }
        for key in InventorySchema.keys where key.path.hasPrefix("spec.controlPlane.managed") { c[key.path] = managed }
        let encrypting = ["spec.etcd.backup.unencrypted", "spec.etcd.backup.recipients", "spec.etcd.backup.encryptionKeyFile"]
        for key in InventorySchema.keys where key.path.hasPrefix("spec.etcd.backup.") && !encrypting.contains(key.path) {
            c[key.path, default: []].append(("spec.etcd.backup.unencrypted", "true"))
        }
        return c
    }()

    static var base: YAMLTree {
        YAMLTree.map([
            ("apiVersion", .raw(Inventory.apiVersion)),
            ("kind", .raw(Inventory.kind)),
            ("metadata", .map([("name", .raw("explain"))])),
            ("spec", .map([
                ("kubernetesVersion", .raw("v1.31.4")),
                ("hosts", .list([.map([("name", .raw("cp1")), ("address", .raw("10.0.0.11")), ("roles", .raw("[control-plane, etcd, worker]"))])])),
            ])),
        ])
    }

    /// `spec.hosts[].labels.<key>` → `["spec", "hosts[]", "labels", "example.com/zone"]`.
    static func components(_ path: String) -> [String] {
        path.split(separator: ".").map { $0 == "<key>" ? userKey(in: path) : String($0) }
    }
}

/// A YAML document built key by key: leaves are YAML text, written in block style.
indirect enum YAMLTree {
    case raw(String)
    case map([(String, YAMLTree)])
    case list([YAMLTree])

    /// Sets the value at `components` (`hosts[]` is the first item of the list `hosts`), creating what is
    /// missing on the way with the keys the schema requires there.
    mutating func set(_ components: [String], _ value: YAMLTree, schemaPath: String = "") {
        guard let first = components.first else { self = value; return }
        let isItem = first.hasSuffix("[]")
        let name = isItem ? String(first.dropLast(2)) : first
        let userChosen = name == InventorySchemaTests.labelKey || (schemaPath == "spec.concurrency.phases" && name == InventorySchemaTests.phaseKey)
        let keyPath = schemaPath.isEmpty ? name : schemaPath + "." + (userChosen ? "<key>" : name)
        guard case .map(var entries) = self else {
            self = .map([])
            set(components, value, schemaPath: schemaPath)
            return
        }
        let index = entries.firstIndex { $0.0 == name } ?? {
            entries.append((name, Self.required(at: isItem ? keyPath + "[]" : keyPath, asList: isItem)))
            return entries.count - 1
        }()
        var child = entries[index].1
        if isItem {
            if case .list(var items) = child, !items.isEmpty {
                items[0].set(Array(components.dropFirst()), value, schemaPath: keyPath + "[]")
                child = .list(items)
            } else {
                var item = Self.required(at: keyPath + "[]", asList: false)
                item.set(Array(components.dropFirst()), value, schemaPath: keyPath + "[]")
                child = .list([item])
            }
        } else if components.count == 1 {
            child = value
        } else {
            if case .raw = child { child = Self.required(at: keyPath, asList: false) }
            child.set(Array(components.dropFirst()), value, schemaPath: keyPath)
        }
        entries[index].1 = child
        self = .map(entries)
    }

    /// A mapping with the required keys at `path` set to their examples (a list holding one, with `asList`).
    static func required(at path: String, asList: Bool) -> YAMLTree {
        let map = YAMLTree.map(InventorySchema.children(of: path).filter { $0.defaultValue == .required }.map { ($0.name, .raw($0.example)) })
        return asList ? .list([map]) : map
    }

    func yaml(indent: Int = 0) -> String {
        let pad = String(repeating: " ", count: indent)
        switch self {
        case .raw(let text): return text
        case .list(let items):
            return items.map { item in
                let body = item.yaml(indent: indent + 2)
                return pad + "- " + body.dropFirst(indent + 2)
            }.joined()
        case .map(let entries):
            return entries.map { key, value in
                switch value {
                case .raw(let text): return "\(pad)\(key): \(text)\n"
                case .map(let inner) where inner.isEmpty: return "\(pad)\(key): {}\n"
                case .map, .list: return "\(pad)\(key):\n" + value.yaml(indent: indent + 2)
                }
            }.joined()
        }
    }
}
