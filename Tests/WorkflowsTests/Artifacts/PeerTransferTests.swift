import Foundation
import Testing
import TestSupport
@testable import Workflows

/// The scheduling of peer transfer: which host gets a file from where. The commands themselves run on lab hosts
/// (`LabTests`), where a planted wrong file on a holder is refused by the receiver's checksum check.
@Suite("peer transfer: the operator sends each file once, hosts fetch from holders", .tags(.unit))
struct PeerTransferTests {
    static let sha = String(repeating: "ab", count: 32)

    actor Log {
        var fromThisMachine = 0
        var fromPeers: [String: String] = [:]
        var busiest = 0
        var serving: [String: Int] = [:]
        func seeded() { fromThisMachine += 1 }
        func begin(_ holder: String, for host: String) {
            fromPeers[host] = holder
            serving[holder, default: 0] += 1
            busiest = max(busiest, serving[holder]!)
        }
        func end(_ holder: String) { serving[holder, default: 1] -= 1 }
    }

    static func server(_ relay: PeerTransfer, _ host: String) async -> PeerServer? {
        await relay.server(on: host) { address, token in PeerServer(address: address, port: 40000, token: token) }
    }

    /// Every host fetches `sha` at once; each transfer takes a few milliseconds.
    static func spread(_ hosts: [String], relay: PeerTransfer, log: Log) async {
        await withTaskGroup(of: Void.self) { group in
            for host in hosts {
                group.addTask {
                    switch await relay.source(for: sha, host: host) {
                    case .thisMachine:
                        await log.seeded()
                        try? await Task.sleep(for: .milliseconds(20))
                        let serving = await server(relay, host) != nil
                        await relay.holds(sha, host: host, serving: serving, seeded: true)
                    case .peer(let holder, _):
                        await log.begin(holder, for: host)
                        try? await Task.sleep(for: .milliseconds(10))
                        await log.end(holder)
                        await relay.finished(holder)
                        await relay.fetched(bytes: 100)
                        let serving = await server(relay, host) != nil
                        await relay.holds(sha, host: host, serving: serving, seeded: false)
                    }
                }
            }
        }
    }

    static func hosts(_ n: Int) -> [String] { (1...n).map { "h\($0)" } }
    static func addresses(_ hosts: [String]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: hosts.enumerated().map { ($1, "10.0.0.\($0 + 1)") })
    }

    @Test("40 hosts: the file leaves this machine once, every other host fetches it from a holder, no holder serves more than 3 at once")
    func tree() async {
        let hosts = Self.hosts(40)
        let relay = PeerTransfer(addresses: Self.addresses(hosts))
        let log = Log()
        await Self.spread(hosts, relay: relay, log: log)
        #expect(await log.fromThisMachine == 1)
        #expect(await log.fromPeers.count == 39)
        #expect(await log.fromPeers.allSatisfy { $0.key != $0.value })
        #expect(await log.busiest <= PeerTransfer.clientsPerSeed)
        // Holders multiply: more than the first host served.
        #expect(Set(await log.fromPeers.values).count > 3)
        #expect(await relay.tally.peerFiles == 39)
    }

    @Test("the first seed's upload fails: the next host seeds, and the file still leaves this machine for one host only after that")
    func seedFails() async {
        let hosts = Self.hosts(6)
        let relay = PeerTransfer(addresses: Self.addresses(hosts))
        guard case .thisMachine = await relay.source(for: Self.sha, host: "h1") else { Issue.record("h1 should seed"); return }
        async let waiting = relay.source(for: Self.sha, host: "h2")
        try? await Task.sleep(for: .milliseconds(20))
        await relay.seedFailed(Self.sha)
        #expect(await waiting == .thisMachine)
        _ = await Self.server(relay, "h2")
        await relay.holds(Self.sha, host: "h2", serving: true, seeded: true)
        guard case .peer(let holder, _) = await relay.source(for: Self.sha, host: "h3") else { Issue.record("h3 should fetch from h2"); return }
        #expect(holder == "h2")
    }

    @Test("a holder that cannot serve turns peer transfer off: the waiting hosts get the file from this machine at once, not one by one")
    func cannotServe() async {
        let hosts = Self.hosts(8)
        let relay = PeerTransfer(addresses: Self.addresses(hosts))
        guard case .thisMachine = await relay.source(for: Self.sha, host: "h1") else { Issue.record("h1 should seed"); return }
        let waiting = Task { await withTaskGroup(of: PeerSource.self) { group in
            for host in hosts.dropFirst() { group.addTask { await relay.source(for: Self.sha, host: host) } }
            return await group.reduce(into: []) { $0.append($1) }
        } }
        try? await Task.sleep(for: .milliseconds(20))
        let server = await relay.server(on: "h1") { _, _ in throw WorkflowError.internalInvariant("no perl on this host") }
        #expect(server == nil)
        await relay.holds(Self.sha, host: "h1", serving: false, seeded: true)
        #expect(await waiting.value == Array(repeating: PeerSource.thisMachine, count: 7))
        #expect(await relay.takeStopReason()?.contains("no perl") == true)
        #expect(await relay.takeStopReason() == nil)
    }

    @Test("a host whose fetch failed gets the rest from this machine, and the fallback is counted with its reason")
    func fetchFails() async {
        let relay = PeerTransfer(addresses: Self.addresses(Self.hosts(3)))
        _ = await relay.source(for: Self.sha, host: "h1")
        _ = await Self.server(relay, "h1")
        await relay.holds(Self.sha, host: "h1", serving: true, seeded: true)
        guard case .peer = await relay.source(for: Self.sha, host: "h2") else { Issue.record("h2 should fetch from h1"); return }
        await relay.finished("h1")
        await relay.fetchFailed(host: "h2", reason: "the peer's bytes have SHA-256 00…, not ab…")
        #expect(await relay.source(for: Self.sha, host: "h2") == .thisMachine)
        #expect(await relay.tally.peerFallbacks == 1)
        #expect(await relay.tally.firstFallback?.hasPrefix("h2: the peer's bytes") == true)
        // Another host still fetches from h1.
        guard case .peer = await relay.source(for: Self.sha, host: "h3") else { Issue.record("h3 should fetch from h1"); return }
    }
}
