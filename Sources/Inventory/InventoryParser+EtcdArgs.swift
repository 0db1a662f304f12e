import Foundation
import Yams

/// `spec.etcd.extraArgs.<flag>: value`, each flag checked against the flag table of the inventory's etcd minor
/// (asked of the real binaries), so a typo, a flag of another minor or a malformed value is an error at its place
/// in the file instead of members that will not start.
extension InventoryParser {
    func parseEtcdArgs(_ node: Node, version: SemanticVersion?) -> [ExtraArg] {
        let path = "spec.etcd.extraArgs"
        guard case .mapping(let map) = node else {
            r.error(node.position, "\(path): expected a mapping of flag names to values (e.g. auto-compaction-retention: 1h), found \(node.kindDescription)")
            return []
        }
        let table = version.flatMap { $0.major == 3 ? EtcdFlagTable.load(minor: $0.minor) : nil }
        var args: [ExtraArg] = []
        for (keyNode, valueNode) in map {
            guard let name = keyNode.scalar?.string else {
                r.error(keyNode.position, "\(path): flag names must be strings, found \(keyNode.kindDescription)")
                continue
            }
            let at = "\(path).\(name)"
            guard case .scalar(let value) = valueNode, !valueNode.isNull else {
                r.error(valueNode.position ?? keyNode.position, "\(at): expected a value (a boolean flag takes true or false), found \(valueNode.isNull ? "no value" : valueNode.kindDescription)")
                continue
            }
            if etcdFlagAccepted(name, value: value.string, table: table, keyAt: keyNode.position, valueAt: valueNode.position, path: at) {
                args.append(ExtraArg(name: name, value: value.string))
            }
        }
        return args
    }

    private func etcdFlagAccepted(_ name: String, value: String, table: EtcdFlagTable?, keyAt: Position?, valueAt: Position?, path: String) -> Bool {
        func refuse(_ at: Position?, _ message: String) -> Bool {
            r.error(at, "\(path): " + message)
            return false
        }
        if let problem = Self.flagNameProblem(name, example: "auto-compaction-retention: 1h") { return refuse(keyAt, problem) }
        if let setBy = EtcdFlagTable.reserved[name] {
            return refuse(keyAt, "etcd --\(name) is set by \(setBy); Capstan does not let extraArgs replace it")
        }
        guard let table else { return true }  // an unsupported etcd version is reported at spec.etcd.version
        guard let flag = table.flags[name] else {
            if let others = SupportedVersions.othersHaving(besides: table.minor, among: EtcdFlagTable.minors, major: 3, {
                EtcdFlagTable.load(minor: $0)?.flags[name] != nil
            }) {
                return refuse(keyAt, "etcd 3.\(table.minor) has no flag --\(name) (\(others)); remove it or change spec.etcd.version")
            }
            if let guess = Spelling.suggestion(for: name, among: Array(table.flags.keys)) {
                return refuse(keyAt, "etcd 3.\(table.minor) has no flag --\(name); did you mean \(guess)?")
            }
            r.warning(keyAt, "\(path): --\(name) is not in Capstan's table of etcd 3.\(table.minor) flags (read from etcd \(table.version)); if etcd does not know it, members refuse to start with it (on a running cluster the roll-out stops at the first member it restarts; the others keep running)")
            return true
        }
        if ["bool", "int", "uint", "duration"].contains(flag.type), let problem = KubernetesFlagTable.valueProblem(value, type: flag.type) {
            return refuse(valueAt, "invalid value for etcd --\(name) (\(flag.type)): \(problem)")
        }
        if flag.section == "Unsafe feature" || name.hasPrefix("unsafe-") {
            return refuse(keyAt, "etcd --\(name) is an unsafe flag (\"it may break the guarantees given by the consensus protocol\"); Capstan does not set it")
        }
        if flag.section == "TO BE DEPRECATED" {
            r.warning(keyAt, "\(path): etcd 3.\(table.minor) lists --\(name) as to be deprecated")
        }
        return true
    }
}
