import Foundation

/// A member as `etcdctl member list -w json` reports it (3.4 and 3.5 print the same shape).
public struct EtcdMember: Sendable, Equatable, Codable {
    public var id: UInt64
    /// Empty for a member that was added but has not started yet.
    public var name: String
    public var peerURLs: [String]
    public var clientURLs: [String]
    public var isLearner: Bool

    public init(id: UInt64, name: String, peerURLs: [String], clientURLs: [String] = [], isLearner: Bool = false) {
        self.id = id
        self.name = name
        self.peerURLs = peerURLs
        self.clientURLs = clientURLs
        self.isLearner = isLearner
    }

    enum CodingKeys: String, CodingKey {
        case id = "ID", name, peerURLs, clientURLs, isLearner
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(UInt64.self, forKey: .id)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        peerURLs = try c.decodeIfPresent([String].self, forKey: .peerURLs) ?? []
        clientURLs = try c.decodeIfPresent([String].self, forKey: .clientURLs) ?? []
        isLearner = try c.decodeIfPresent(Bool.self, forKey: .isLearner) ?? false
    }

    /// etcdctl takes member IDs in hex.
    public var hexID: String { String(id, radix: 16) }
    public var hasStarted: Bool { !name.isEmpty }
}

public struct EtcdMemberList: Sendable, Equatable, Decodable {
    public var clusterID: UInt64
    public var members: [EtcdMember]

    enum CodingKeys: String, CodingKey { case header, members }
    enum HeaderKeys: String, CodingKey { case clusterID = "cluster_id" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let header = try c.nestedContainer(keyedBy: HeaderKeys.self, forKey: .header)
        clusterID = try header.decode(UInt64.self, forKey: .clusterID)
        members = try c.decodeIfPresent([EtcdMember].self, forKey: .members) ?? []
    }
}

/// One entry of `etcdctl endpoint status -w json`.
public struct EtcdEndpointStatus: Sendable, Equatable, Decodable {
    public var endpoint: String
    public var clusterID: UInt64
    public var memberID: UInt64
    public var revision: Int64
    public var version: String
    public var dbSize: Int64
    public var dbSizeInUse: Int64?
    public var leader: UInt64
    public var raftIndex: UInt64
    public var raftTerm: UInt64
    public var raftAppliedIndex: UInt64?
    public var isLearner: Bool
    public var errors: [String]

    public var isLeader: Bool { leader == memberID && leader != 0 }

    enum OuterKeys: String, CodingKey { case endpoint = "Endpoint", status = "Status" }
    enum StatusKeys: String, CodingKey { case header, version, dbSize, dbSizeInUse, leader, raftIndex, raftTerm, raftAppliedIndex, isLearner, errors }
    enum HeaderKeys: String, CodingKey { case clusterID = "cluster_id", memberID = "member_id", revision }

    public init(from decoder: any Decoder) throws {
        let outer = try decoder.container(keyedBy: OuterKeys.self)
        endpoint = try outer.decode(String.self, forKey: .endpoint)
        let s = try outer.nestedContainer(keyedBy: StatusKeys.self, forKey: .status)
        let h = try s.nestedContainer(keyedBy: HeaderKeys.self, forKey: .header)
        clusterID = try h.decode(UInt64.self, forKey: .clusterID)
        memberID = try h.decode(UInt64.self, forKey: .memberID)
        revision = try h.decodeIfPresent(Int64.self, forKey: .revision) ?? 0
        version = try s.decode(String.self, forKey: .version)
        dbSize = try s.decodeIfPresent(Int64.self, forKey: .dbSize) ?? 0
        dbSizeInUse = try s.decodeIfPresent(Int64.self, forKey: .dbSizeInUse)
        leader = try s.decodeIfPresent(UInt64.self, forKey: .leader) ?? 0
        raftIndex = try s.decodeIfPresent(UInt64.self, forKey: .raftIndex) ?? 0
        raftTerm = try s.decodeIfPresent(UInt64.self, forKey: .raftTerm) ?? 0
        raftAppliedIndex = try s.decodeIfPresent(UInt64.self, forKey: .raftAppliedIndex)
        isLearner = try s.decodeIfPresent(Bool.self, forKey: .isLearner) ?? false
        errors = try s.decodeIfPresent([String].self, forKey: .errors) ?? []
    }
}

/// One entry of `etcdctl endpoint health -w json`.
public struct EtcdEndpointHealth: Sendable, Equatable, Decodable {
    public var endpoint: String
    public var health: Bool
    public var took: String?
    public var error: String?
}

public enum EtcdFactsError: Error, Sendable, CustomStringConvertible {
    case unparsable(command: String, host: String, reason: String, excerpt: String)

    public var description: String {
        switch self {
        case let .unparsable(command, host, reason, excerpt):
            return "cannot read the output of `\(command)` on \(host): \(reason); output began: \(excerpt)"
        }
    }
}

extension FactsParser {
    public static func etcdMemberList(_ text: String, host: String = "-") throws -> EtcdMemberList {
        try decode(EtcdMemberList.self, text, command: "etcdctl member list -w json", host: host)
    }

    public static func etcdEndpointStatus(_ text: String, host: String = "-") throws -> [EtcdEndpointStatus] {
        try decode([EtcdEndpointStatus].self, text, command: "etcdctl endpoint status -w json", host: host)
    }

    /// Health output; etcdctl exits 1 when any endpoint is unhealthy but still prints every entry.
    public static func etcdEndpointHealth(_ text: String, host: String = "-") throws -> [EtcdEndpointHealth] {
        try decode([EtcdEndpointHealth].self, text, command: "etcdctl endpoint health -w json", host: host)
    }

    /// The host part of a URL such as `https://10.0.0.1:2379` or `127.0.0.1:2379`.
    public static func endpointKey(_ url: String) -> String {
        var s = Substring(url)
        if let scheme = s.range(of: "://") { s = s[scheme.upperBound...] }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        return String(s)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, command: String, host: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw EtcdFactsError.unparsable(command: command, host: host, reason: "\(error)", excerpt: String(text.prefix(120)))
        }
    }
}
