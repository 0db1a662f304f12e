import Foundation

/// A sanity check of systemd `OnCalendar=` expressions (see systemd.time(7)). It accepts the
/// shorthands and the `[weekdays] [date] [time] [timezone]` form with `*`, lists, ranges and
/// repetitions, and rejects text that is clearly not a calendar event. systemd remains the final judge.
public enum OnCalendar {
    static let shorthands: Set<String> = [
        "minutely", "hourly", "daily", "monthly", "weekly", "yearly", "annually", "quarterly", "semiannually",
    ]
    static let weekdays: Set<String> = [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun",
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    ]

    public static func isPlausible(_ text: String) -> Bool {
        let tokens = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !tokens.isEmpty, tokens.count <= 4 else { return false }
        if tokens.count == 1, shorthands.contains(tokens[0].lowercased()) { return true }
        var rest = tokens[...]
        if let first = rest.first, first.first?.isLetter == true, isWeekdays(first) { rest = rest.dropFirst() }
        if let last = rest.last, rest.count > 1, isTimeZone(last) { rest = rest.dropLast() }
        var sawDate = false, sawTime = false
        for token in rest {
            if !sawDate, !sawTime, token.contains("-") || token.contains("~"), isDate(token) {
                sawDate = true
            } else if !sawTime, token.contains(":"), isTime(token) {
                sawTime = true
            } else {
                return false
            }
        }
        return sawDate || sawTime || rest.isEmpty && tokens.count == 1 && isWeekdays(tokens[0])
    }

    private static func isWeekdays(_ s: String) -> Bool {
        s.split(separator: ",").allSatisfy { item in
            item.components(separatedBy: "..").allSatisfy { weekdays.contains($0.lowercased()) }
        } && !s.isEmpty
    }

    private static func isTimeZone(_ s: String) -> Bool {
        s == "UTC" || s.contains("/") && s.allSatisfy { $0.isLetter || $0 == "/" || $0 == "_" }
    }

    /// One component: `*`, `5`, `1,15`, `1..5`, `*/2`, `0/15`.
    private static func isComponent(_ s: Substring, range: ClosedRange<Int>) -> Bool {
        guard !s.isEmpty else { return false }
        return s.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { item in
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { return false }
            if stepParts.count == 2, Int(stepParts[1]).map({ $0 > 0 }) != true { return false }
            let base = stepParts[0]
            if base == "*" { return true }
            let bounds = base.components(separatedBy: "..")
            guard bounds.count <= 2 else { return false }
            return bounds.allSatisfy { b in
                let number = b.split(separator: ".").first.map(String.init) ?? b
                return Int(number).map { range.contains($0) } == true
            }
        }
    }

    private static func isDate(_ s: String) -> Bool {
        let normalized = s.replacingOccurrences(of: "~", with: "-")
        let parts = normalized.split(separator: "-", omittingEmptySubsequences: false)
        switch parts.count {
        case 2: return isComponent(parts[0], range: 1...12) && isComponent(parts[1], range: 1...31)
        case 3: return isComponent(parts[0], range: 1970...2199) && isComponent(parts[1], range: 1...12) && isComponent(parts[2], range: 1...31)
        default: return false
        }
    }

    private static func isTime(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3 else { return false }
        return isComponent(parts[0], range: 0...23) && isComponent(parts[1], range: 0...59)
            && (parts.count == 2 || isComponent(parts[2], range: 0...59))
    }
}
