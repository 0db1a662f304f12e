import Crypto
import Foundation

/// Readable descriptions of file changes for `plan`.
public enum FileDiff {
    /// A unified diff for text; a size/checksum line for binaries; never the content of secrets.
    public static func describe(path: String, old: Data?, new: Data, secret: Bool) -> String {
        if secret {
            return "(secret, \(new.count) bytes changed)"
        }
        guard let newText = String(data: new, encoding: .utf8), let oldText = old.map({ String(data: $0, encoding: .utf8) }) ?? "" else {
            return "(binary, \(old?.count ?? 0) → \(new.count) bytes, sha256 \(old.map(sha256Hex) ?? "none") → \(sha256Hex(new)))"
        }
        return unified(old: oldText, new: newText, oldName: old == nil ? "/dev/null" : "a" + path, newName: "b" + path)
    }

    public static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// `diff -u` style output with `context` lines around each change.
    public static func unified(old: String, new: String, oldName: String, newName: String, context: Int = 3) -> String {
        let a = lines(old)
        let b = lines(new)
        if a.count * b.count > 4_000_000 {
            return "--- \(oldName)\n+++ \(newName)\n(\(a.count) lines → \(b.count) lines, too large to show)\n"
        }
        let ops = editScript(a, b)
        // Group operations into hunks separated by more than 2*context unchanged lines.
        var out = "--- \(oldName)\n+++ \(newName)\n"
        var i = 0
        while i < ops.count {
            guard let firstChange = ops[i...].firstIndex(where: { $0.kind != .same }) else { break }
            var start = max(i, firstChange - context)
            if start < i { start = i }
            var end = firstChange
            var lastChange = firstChange
            while end < ops.count {
                if ops[end].kind != .same { lastChange = end }
                if end - lastChange > 2 * context { break }
                end += 1
            }
            let stop = min(ops.count, lastChange + context + 1)
            let hunk = ops[start..<stop]
            let oldStart = (hunk.first?.oldIndex ?? 0) + 1
            let newStart = (hunk.first?.newIndex ?? 0) + 1
            let oldCount = hunk.filter { $0.kind != .insert }.count
            let newCount = hunk.filter { $0.kind != .delete }.count
            out += "@@ -\(oldCount == 0 ? oldStart - 1 : oldStart),\(oldCount) +\(newCount == 0 ? newStart - 1 : newStart),\(newCount) @@\n"
            for op in hunk {
                switch op.kind {
                case .same: out += " " + op.text + "\n"
                case .delete: out += "-" + op.text + "\n"
                case .insert: out += "+" + op.text + "\n"
                }
            }
            i = stop
        }
        return out
    }

    struct Op {
        enum Kind { case same, delete, insert }
        var kind: Kind
        var text: String
        /// Position in the old and new files where this line sits (for hunk headers).
        var oldIndex: Int
        var newIndex: Int
    }

    static func lines(_ text: String) -> [String] {
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }
        return parts
    }

    /// Longest-common-subsequence edit script (files Capstan manages are small).
    static func editScript(_ a: [String], _ b: [String]) -> [Op] {
        let n = a.count, m = b.count
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        var ops: [Op] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                ops.append(Op(kind: .same, text: a[i], oldIndex: i, newIndex: j)); i += 1; j += 1
            } else if i < n, j == m || lcs[i + 1][j] >= lcs[i][j + 1] {
                ops.append(Op(kind: .delete, text: a[i], oldIndex: i, newIndex: j)); i += 1
            } else {
                ops.append(Op(kind: .insert, text: b[j], oldIndex: i, newIndex: j)); j += 1
            }
        }
        return ops
    }
}
