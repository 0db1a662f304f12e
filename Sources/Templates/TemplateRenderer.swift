import Foundation
import Mustache

/// Renders the templates of `templates/` (e.g. `etcd/etcd.service`) from typed contexts.
///
/// Templates are looked up first in the user's override directory (a file with the same relative name
/// wins), then in the defaults shipped with Capstan (the repository's `templates/`, carried as this
/// module's resources). Output is plain text: nothing is HTML-escaped. A template whose variable tag refers at top
/// level to a name missing from its context is an error, so a typo never renders an empty flag into a unit.
public struct TemplateRenderer: Sendable {
    /// Directory whose files override the defaults; nil for none.
    public var overrideDirectory: String?
    /// Directory holding the default templates.
    public var defaultsDirectory: String

    public init(overrideDirectory: String? = nil, defaultsDirectory: String? = nil) {
        self.overrideDirectory = overrideDirectory
        self.defaultsDirectory = defaultsDirectory ?? TemplateRenderer.bundledDirectory
    }

    /// The templates carried in this module's resource bundle.
    public static var bundledDirectory: String {
        if let url = Bundle.module.url(forResource: "templates", withExtension: nil) { return url.path }
        return Bundle.module.bundlePath + "/templates"
    }

    /// Where `name` is read from: the override when present, else the default.
    public func location(of name: String) throws -> String {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw TemplateError.invalidName(name)
        }
        var searched: [String] = []
        for directory in [overrideDirectory, defaultsDirectory].compactMap({ $0 }) {
            let path = directory + "/" + name
            searched.append(path)
            if FileManager.default.isReadableFile(atPath: path) { return path }
        }
        throw TemplateError.notFound(name: name, searched: searched)
    }

    /// Renders `name` with an `Encodable` context (encoded to a dictionary with its coding keys).
    public func render(_ name: String, context: some Encodable) throws -> String {
        try render(name, values: try TemplateValues.dictionary(from: context, template: name))
    }

    /// Renders `name` with explicit values (strings, numbers, booleans, arrays and dictionaries of those).
    public func render(_ name: String, values: [String: Any]) throws -> String {
        let path = try location(of: name)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TemplateError.notFound(name: name, searched: [path])
        }
        return try TemplateRenderer.render(text: String(decoding: data, as: UTF8.self), named: path, values: values)
    }

    /// Renders template text; `named` is used in errors.
    public static func render(text: String, named: String, values: [String: Any]) throws -> String {
        let template: MustacheTemplate
        do {
            template = try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}\n" + text)
        } catch let error as MustacheTemplate.ParserError {
            throw TemplateError.syntax(
                file: named, line: max(1, error.context.lineNumber - 1), column: error.context.columnNumber,
                message: "\(error.error)")
        }
        let missing = topLevelNames(in: text).filter { values[$0] == nil }
        if !missing.isEmpty {
            throw TemplateError.missingValues(file: named, names: missing)
        }
        return template.render(values)
    }

    /// Names used by variable tags outside any section, in order of first use.
    static func topLevelNames(in text: String) -> [String] {
        var names: [String] = []
        var depth = 0
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            rest = rest[open.upperBound...]
            guard let close = rest.range(of: "}}") else { break }
            var tag = rest[..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            if tag.hasPrefix("{") {
                tag = String(tag.dropFirst()).trimmingCharacters(in: .whitespaces)
                if rest.hasPrefix("}") { rest = rest.dropFirst() }
            }
            guard let sigil = tag.first else { continue }
            switch sigil {
            case "#", "^":
                // A missing section name is simply false (optional values are omitted when encoded).
                depth += 1
            case "/":
                depth = max(0, depth - 1)
            case "!", ">", "<", "$", "%", "=":
                continue
            default:
                let name = tag.hasPrefix("&") ? tag.dropFirst().trimmingCharacters(in: .whitespaces) : tag
                if depth == 0, name != "." { names.append(String(name.split(separator: ".").first ?? "")) }
            }
        }
        var seen = Set<String>()
        return names.filter { !$0.isEmpty && seen.insert($0).inserted }
    }
}

/// Errors of the template layer.
public enum TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidName(String)
    case notFound(name: String, searched: [String])
    case syntax(file: String, line: Int, column: Int, message: String)
    case missingValues(file: String, names: [String])
    case context(template: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidName(name):
            return "invalid template name \"\(name)\": use a relative path inside templates/, e.g. etcd/etcd.service"
        case let .notFound(name, searched):
            return "template \(name) not found (looked in: \(searched.joined(separator: ", "))) — reinstall Capstan or add it to the override directory"
        case let .syntax(file, line, column, message):
            return "\(file):\(line):\(column): template syntax error: \(message)"
        case let .missingValues(file, names):
            return "\(file): the template uses \(names.joined(separator: ", ")) but the context has no such value — fix the template's spelling or update the override from the defaults"
        case let .context(template, reason):
            return "cannot build the context for \(template): \(reason)"
        }
    }
}

/// Converts `Encodable` contexts into the dictionaries Mustache renders.
enum TemplateValues {
    static func dictionary(from context: some Encodable, template: String) throws -> [String: Any] {
        let data: Data
        let value: JSONValue
        do {
            data = try JSONEncoder().encode(context)
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw TemplateError.context(template: template, reason: "\(error)")
        }
        guard case .object = value, let dictionary = value.any as? [String: Any] else {
            throw TemplateError.context(template: template, reason: "the context must encode to a keyed object")
        }
        return dictionary
    }

    /// JSON decoded without Foundation's NSNumber, so booleans stay booleans for Mustache sections.
    enum JSONValue: Decodable {
        case null, bool(Bool), int(Int), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() { self = .null }
            else if let b = try? container.decode(Bool.self) { self = .bool(b) }
            else if let i = try? container.decode(Int.self) { self = .int(i) }
            else if let d = try? container.decode(Double.self) { self = .double(d) }
            else if let s = try? container.decode(String.self) { self = .string(s) }
            else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
            else { self = .object(try container.decode([String: JSONValue].self)) }
        }

        var any: Any {
            switch self {
            case .null: return Optional<String>.none as Any
            case .bool(let b): return b
            case .int(let i): return i
            case .double(let d): return d
            case .string(let s): return s
            case .array(let a): return a.map(\.any)
            case .object(let o): return o.mapValues(\.any)
            }
        }
    }
}
