/// Did-you-mean suggestions for misspelt keys and values.
public enum Spelling {
    /// Levenshtein distance over Unicode scalars.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var previous = Array(0...y.count)
        var current = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            current[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[y.count]
    }

    /// The closest candidate when it is close enough to be a likely typo: a case-only difference,
    /// or an edit distance of at most a third of the word (at least 1, at most 3).
    public static func suggestion(for word: String, among candidates: [String]) -> String? {
        guard word.count <= 64 else { return nil }
        if let same = candidates.first(where: { $0.lowercased() == word.lowercased() }) { return same }
        let limit = min(3, max(1, word.count / 3))
        let scored = candidates.map { ($0, distance($0.lowercased(), word.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= limit else { return nil }
        return best.0
    }

    /// `PATH: unknown key 'KEY'`, with a did-you-mean when one is close, else the keys `PATH` takes.
    public static func unknownKey(_ key: String, in path: String, allowed: [String]) -> String {
        if let guess = suggestion(for: key, among: allowed) {
            return "\(path): unknown key '\(key)'; did you mean '\(guess)'?"
        }
        return "\(path): unknown key '\(key)' (expected one of: \(allowed.joined(separator: ", ")))"
    }
}
