import Foundation

/// The compact UTC time Capstan puts in names (`20261202T104512Z`: backups, moved-aside data directories).
public enum CompactTime {
    static func formatter() -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter
    }

    public static func string(_ date: Date) -> String { formatter().string(from: date) }

    /// The first compact time in `text` (e.g. a file name), if any.
    public static func date(in text: String) -> Date? {
        guard let range = text.range(of: #"\d{8}T\d{6}Z"#, options: .regularExpression) else { return nil }
        return formatter().date(from: String(text[range]))
    }
}
