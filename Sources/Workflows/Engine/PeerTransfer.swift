import Foundation
import Hosts

/// Bytes this run moved to hosts: from this machine (over SSH) and between hosts (peer transfer).
public struct TransferTally: Sendable, Equatable, Codable {
    public var operatorBytes: Int64 = 0
    public var operatorFiles = 0
    public var peerBytes: Int64 = 0
    public var peerFiles = 0
    /// Peer fetches that failed and were sent from this machine instead, with the first reason.
    public var peerFallbacks = 0
    public var firstFallback: String?

    public init() {}

    /// `sent 57.3 MiB from this machine (8 files); hosts fetched 171.9 MiB from peers (24 files)`; nil when nothing moved.
    public var summary: String? {
        guard operatorFiles + peerFiles > 0 else { return nil }
        var text = "sent \(ByteCount.text(operatorBytes)) from this machine (\(operatorFiles) file\(operatorFiles == 1 ? "" : "s"))"
        if peerFiles > 0 { text += "; hosts fetched \(ByteCount.text(peerBytes)) from peers (\(peerFiles) file\(peerFiles == 1 ? "" : "s"))" }
        if peerFallbacks > 0 { text += "; \(peerFallbacks) peer fetch(es) fell back to this machine (\(firstFallback ?? "no reason given"))" }
        return text
    }
}

/// Who a host gets a verified file from: this machine, or a host that already holds it.
enum PeerSource: Sendable, Equatable {
    case thisMachine
    case peer(host: String, server: PeerServer)
}

/// A short-lived file server on a host that holds verified artifacts (see `PeerTransfer`).
struct PeerServer: Sendable, Equatable {
    var address: String
    var port: Int
    var token: String
}

/// Peer transfer: the artifacts of a phase leave this machine once per file, not once per host.
///
/// The first host that needs a file gets it from this machine over SSH, verifies it (as every upload is
/// verified) and then serves it: Capstan starts a small server on that host, bound to the host's cluster
/// address on a port the kernel picks, that answers only requests naming a random 128-bit token of this run
/// and the SHA-256 of a file registered with it (a symlink named by the checksum, in a 0700 directory under
/// /run). Every later host fetches from the least busy holder (at most `clientsPerSeed` at once), checks
/// the SHA-256 that Capstan knows from the release's checksum list before the file replaces anything, and
/// then serves it in turn, so holders double each round. A tampered or truncated byte fails that check:
/// the file is discarded and sent from this machine instead, as is any file a peer cannot deliver (no
/// route, a firewall, no perl on the holder). The servers stop when the phase ends, and exit by themselves
/// after 30 minutes if Capstan is killed before that.
///
/// Needs on holders perl (essential on Debian and Ubuntu) and on receivers bash with /dev/tcp; a host
/// without them is served from this machine. `spec.artifacts.peerTransfer: false` turns it off.
actor PeerTransfer {
    static let clientsPerSeed = 3
    static let directory = "/run/capstan-peer"

    /// Cluster addresses of the hosts, by name.
    let addresses: [String: String]
    let token: String
    private var servers: [String: PeerServer] = [:]
    /// Why peer transfer stopped for this run: a host could not serve (no perl, the server did not start),
    /// and holders are alike, so waiting for another would only put the hosts in a queue.
    private(set) var stopped: String?
    /// Hosts whose peer fetch failed once: this machine sends them the rest.
    private var cannotFetch: Set<String> = []
    /// Holders of each file (by SHA-256) that serve it, and how many fetches each serves now.
    private var holders: [String: [String]] = [:]
    private var load: [String: Int] = [:]
    /// Files on their way from this machine to their first holder.
    private var seeding: Set<String> = []
    private var waiters: [CheckedContinuation<Void, Never>] = []
    var tally = TransferTally()

    init(addresses: [String: String], token: String = PeerTransfer.newToken()) {
        self.addresses = addresses
        self.token = token
    }

    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%08x", generator.next() as UInt32) }.joined()
    }

    /// Where `host` gets the file with `sha256` from. Waits while the file is on its way to its first holder
    /// or every holder serves `clientsPerSeed` fetches; returns `.thisMachine` to the host that should seed it.
    func source(for sha256: String, host: String) async -> PeerSource {
        while true {
            guard stopped == nil, addresses[host] != nil, !cannotFetch.contains(host) else { return .thisMachine }
            let available = (holders[sha256] ?? []).filter { $0 != host && load[$0, default: 0] < Self.clientsPerSeed }
            if let holder = available.min(by: { load[$0, default: 0] < load[$1, default: 0] }), let server = servers[holder] {
                load[holder, default: 0] += 1
                return .peer(host: holder, server: server)
            }
            if holders[sha256]?.isEmpty ?? true, !seeding.contains(sha256) {
                seeding.insert(sha256)
                return .thisMachine
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    /// The fetch from `holder` is over.
    func finished(_ holder: String) {
        load[holder, default: 1] -= 1
        wakeAll()
    }

    /// `host` holds the file now (`serving`: and serves it), or failed to get it from this machine.
    func holds(_ sha256: String, host: String, serving: Bool, seeded: Bool) {
        if seeded { seeding.remove(sha256) }
        if serving { holders[sha256, default: []].append(host) }
        wakeAll()
    }

    func seedFailed(_ sha256: String) {
        seeding.remove(sha256)
        wakeAll()
    }

    func fetchFailed(host: String, reason: String) {
        cannotFetch.insert(host)
        tally.peerFallbacks += 1
        if tally.firstFallback == nil { tally.firstFallback = "\(host): \(reason)" }
    }

    func fetched(bytes: Int64) {
        tally.peerBytes += bytes
        tally.peerFiles += 1
    }

    private func wakeAll() {
        let woken = waiters
        waiters = []
        for waiter in woken { waiter.resume() }
    }

    /// Holders whose server a receiver reached in this phase: their port is open on the cluster network,
    /// so later fetches from them skip the connect probe.
    private var reached: Set<String> = []
    func hasBeenReached(_ holder: String) -> Bool { reached.contains(holder) }
    func markReached(_ holder: String) { reached.insert(holder) }

    /// Whether a server runs on `host` (files it fetches can be offered in the same command).
    func serves(_ host: String) -> Bool { servers[host] != nil }

    /// The server on `host`, nil when it cannot serve; `start` runs when none was tried yet.
    func server(on host: String, start: @Sendable (String, String) async throws -> PeerServer) async -> PeerServer? {
        if let server = servers[host] { return server }
        guard stopped == nil, let address = addresses[host] else { return nil }
        do {
            let server = try await start(address, token)
            servers[host] = server
            return server
        } catch {
            stopped = "\(host) cannot serve files to other hosts: \("\(error)".split(separator: "\n").first ?? "")"
            wakeAll()
            return nil
        }
    }

    /// Why peer transfer stopped, once (for one warning).
    func takeStopReason() -> String? {
        defer { if stopped != nil { stopReported = true } }
        return stopReported ? nil : stopped
    }
    private var stopReported = false

    /// Every host a server runs on, forgotten: the caller stops them.
    func takeServers() -> [String] {
        let hosts = Array(servers.keys)
        servers = [:]
        reached = []
        holders = [:]
        load = [:]
        return hosts
    }

    // MARK: - Commands

    /// Starts the server (`perl`, detached from the session and from every descriptor it inherited, a child
    /// per request, gone after 30 minutes whatever happens) and prints its port.
    static func startCommand(address: String, token: String, directory: String = PeerTransfer.directory) -> ShellCommand {
        ShellCommand(["sh", "-c", startScript, "capstan-peer", directory, token, address, serverScript])
    }

    private static let startScript = #"""
        set -e
        command -v perl >/dev/null || { echo "no perl on this host" >&2; exit 3; }
        dir="$1/$2"
        mkdir -p -m 0700 "$dir"
        rm -f "$dir.port"
        perl -e "$4" "$3" "$dir" "$2" > "$dir.port" 2>/dev/null < /dev/null &
        echo $! > "$dir.pid"
        i=0
        while [ ! -s "$dir.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        cat "$dir.port"
        """#

    /// Serves `DIR/<sha256>` to a client that sends `TOKEN SHA256\n`, nothing to anyone else.
    private static let serverScript = #"""
        use strict; use IO::Socket::IP; use POSIX ();
        POSIX::close($_) for 3 .. 1023;
        POSIX::setsid();
        my ($addr, $dir, $token) = @ARGV;
        $SIG{CHLD} = 'IGNORE';
        my $server = IO::Socket::IP->new(LocalHost => $addr, LocalPort => 0, Listen => 64, ReuseAddr => 1) or die "listen: $!";
        $| = 1; print $server->sockport, "\n"; close STDOUT;
        alarm 1800;
        while (1) {
            my $client = $server->accept or next;
            my $pid = fork;
            if (defined $pid && $pid == 0) {
                close $server; alarm 1800; binmode $client;
                my $line = <$client>;
                if (defined $line && $line =~ /^(\S+) ([0-9a-f]{64})\n$/ && $1 eq $token && open(my $file, '<', "$dir/$2")) {
                    binmode $file; my $buffer;
                    while (my $n = sysread($file, $buffer, 1 << 20)) {
                        my $offset = 0;
                        while ($offset < $n) { my $w = syswrite($client, $buffer, $n - $offset, $offset); exit 1 unless $w; $offset += $w }
                    }
                }
                close $client; exit 0;
            }
            close $client;
        }
        """#

    /// Registers a file with the host's server under its checksum. `removeOnStop`: a staging copy that
    /// exists only to be served (an image archive already imported): the stop removes it.
    static func registerCommand(token: String, sha256: String, path: String, removeOnStop: Bool = false,
                                directory: String = PeerTransfer.directory) -> ShellCommand {
        guard removeOnStop else { return ShellCommand(["ln", "-sfn", path, "\(directory)/\(token)/\(sha256)"]) }
        return ShellCommand(["sh", "-c", #"ln -sfn "$3" "$1/$2/$4" && printf '%s\n' "$3" >> "$1/$2.remove""#,
                             "capstan-peer", directory, token, path, sha256])
    }

    /// Fetches `sha256` from `server` into a temporary file beside `path`, checks its SHA-256, then gives it
    /// `attributes` and renames it over `path`. Exit 3: the bytes were not the file. `registering`: the host's
    /// own server already runs (its directory under `directory`), and the file is offered there in the same
    /// command. Shell built-ins stand in for dirname, mktemp and cut: 40 hosts × 20 files is 800 fetches.
    /// `probing`: first see within 5 s whether the holder answers at all (a firewall that drops packets would
    /// otherwise hold the connect for the kernel's SYN retries); needed until one receiver reached the holder.
    static func fetchCommand(server: PeerServer, sha256: String, path: String, attributes: FileAttributes,
                             registering: Bool = false, probing: Bool = true, directory: String = PeerTransfer.directory) -> ShellCommand {
        ShellCommand(["bash", "-c", fetchScript, "capstan-peer", server.address, String(server.port), server.token, sha256, path,
                      String(attributes.mode, radix: 8), attributes.owner ?? "", registering ? "\(directory)/\(server.token)" : "",
                      probing ? "probe" : ""])
    }

    private static let fetchScript = #"""
        set -e -o pipefail
        dir=${5%/*}
        [ -d "${dir:-/}" ] || mkdir -p "$dir"
        tmp="$5.capstan-peer.$$.$RANDOM"
        trap 'rm -f "$tmp"' EXIT
        if [ "$9" = probe ]; then timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2"; fi
        exec 3<>"/dev/tcp/$1/$2"
        printf '%s %s\n' "$3" "$4" >&3
        set -C
        timeout 1800 cat <&3 > "$tmp"
        set +C
        exec 3<&-
        sum=; read -r sum _ < <(openssl dgst -sha256 -r "$tmp" 2>/dev/null || sha256sum "$tmp") || true
        if [ "$sum" != "$4" ]; then echo "the peer's bytes have SHA-256 ${sum:-none}, not $4" >&2; exit 3; fi
        chmod "$6" "$tmp"
        if [ -n "$7" ]; then chown "$7" "$tmp"; fi
        mv -f "$tmp" "$5"
        trap - EXIT
        if [ -n "$8" ]; then ln -sfn "$5" "$8/$4"; fi
        """#

    /// Stops the server on a host, removes the staging copies registered to go with it, and its directory.
    static func stopCommand(token: String, directory: String = PeerTransfer.directory) -> ShellCommand {
        ShellCommand(["sh", "-c", #"""
            dir="$1/$2"
            [ -s "$dir.pid" ] && kill "$(cat "$dir.pid")" 2>/dev/null
            if [ -f "$dir.remove" ]; then while IFS= read -r f; do rm -f -- "$f"; done < "$dir.remove"; fi
            rm -rf "$dir" "$dir.pid" "$dir.port" "$dir.remove"
            true
            """#, "capstan-peer", directory, token])
    }
}

extension WorkflowContext {
    /// What this run moved to hosts, from this machine and between hosts.
    public var transferTally: TransferTally {
        get async {
            var tally = await peers?.tally ?? TransferTally()
            tally.operatorBytes = uploadTally.operatorBytes
            tally.operatorFiles = uploadTally.operatorFiles
            return tally
        }
    }

    /// Installs a verified file on `host` as one change (`"\(action) \(path) (sha256 …, SIZE)"`): fetched from
    /// a host that already holds it when peer transfer is on and one does, else sent from this machine. Either
    /// way the bytes are checked against `sha256` before they replace `path`.
    /// `detail` (default `sha256 <first 12>`) and `diff` describe the change as `upload` does.
    func installVerified(_ host: String, _ action: String, detail: String? = nil, localFile: String, sha256: String, to path: String,
                         attributes: FileAttributes, diff: String? = nil) async throws {
        let size = ByteCount.size(ofLocalFile: localFile) ?? 0
        let detail = detail ?? "sha256 \(sha256.prefix(12))"
        guard mode == .apply, let peers else {
            try await upload(host, action, detail: detail, localFile: localFile, to: path, attributes: attributes, diff: diff)
            return
        }
        let source = await peers.source(for: sha256, host: host)
        if case .peer(let holder, let server) = source {
            // Once this host serves files, the fetch offers the new one too: one command, not two.
            let registering = await peers.serves(host)
            let probing = await !peers.hasBeenReached(holder)
            let fetched = await fetchFromPeer(host, holder: holder, path: path, size: size, peers: peers) {
                try await change(host, "\(action) \(path) (\(detail), \(ByteCount.text(size)) from \(holder))", diff: diff, affecting: [path]) { c in
                    try await c.check(PeerTransfer.fetchCommand(server: server, sha256: sha256, path: path, attributes: attributes,
                                                                registering: registering, probing: probing),
                                      options: RunOptions(timeoutSeconds: 1900))
                }
                await peers.markReached(holder)
            }
            if fetched {
                if registering {
                    await peers.holds(sha256, host: host, serving: true, seeded: false)
                } else {
                    await serve(host, sha256: sha256, path: path, seeded: false)
                }
                return
            }
        }
        do {
            try await upload(host, action, detail: detail, localFile: localFile, to: path, attributes: attributes, diff: diff)
        } catch {
            if source == .thisMachine { await peers.seedFailed(sha256) }
            throw error
        }
        await serve(host, sha256: sha256, path: path, seeded: source == .thisMachine)
    }

    /// Inside a change on `host` (its connection `c`): puts the file with `sha256` at `path` as a staging copy,
    /// fetched from a host that holds it when peer transfer is on and one does (its SHA-256 checked there
    /// before the file is in place), else by `send` from this machine (which checks the bytes as after any
    /// upload). Then `host` offers the copy to the hosts after it. Returns true when it does: the copy must
    /// stay until the phase ends, and the end of the phase removes it; false: the caller removes it.
    func stageVerified(_ host: String, on c: any HostConnection, sha256: String, size: Int64, to path: String,
                       attributes: FileAttributes, send: () async throws -> Void) async throws -> Bool {
        guard mode == .apply, let peers else {
            try await send()
            return false
        }
        let source = await peers.source(for: sha256, host: host)
        if case .peer(let holder, let server) = source {
            let fetched = await fetchFromPeer(host, holder: holder, path: path, size: size, peers: peers) {
                try await c.check(PeerTransfer.fetchCommand(server: server, sha256: sha256, path: path, attributes: attributes),
                                  options: RunOptions(timeoutSeconds: 1900))
            }
            if fetched { return await serve(host, sha256: sha256, path: path, seeded: false, removeOnStop: true) }
        }
        do {
            try await send()
        } catch {
            if source == .thisMachine { await peers.seedFailed(sha256) }
            throw error
        }
        return await serve(host, sha256: sha256, path: path, seeded: source == .thisMachine, removeOnStop: true)
    }

    /// Runs `fetch` (the peer fetch of `path` from `holder`) and gives the holder's slot back either way: true
    /// when the file is in place (counted, and its time on the host's line); false after a warning, and this
    /// machine sends the file to `host` from then on.
    private func fetchFromPeer(_ host: String, holder: String, path: String, size: Int64, peers: PeerTransfer,
                               _ fetch: () async throws -> Void) async -> Bool {
        let started = Date()
        do {
            try await fetch()
            await peers.finished(holder)
            await peers.fetched(bytes: size)
            emit(.hostStatus, host: host, "\(path): fetched \(ByteCount.text(size)) from \(holder) in \(String(format: "%.1f", Date().timeIntervalSince(started)))s")
            return true
        } catch {
            await peers.finished(holder)
            await peers.fetchFailed(host: host, reason: Self.firstLine(of: error))
            emit(.warning, host: host, "warning: \(path) could not be fetched from \(holder) (\(Self.firstLine(of: error))); sending it from this machine")
            return false
        }
    }

    /// Offers the file at `path` from `host` to the hosts after it (starting the host's server on first use);
    /// true when the host serves it.
    @discardableResult
    private func serve(_ host: String, sha256: String, path: String, seeded: Bool, removeOnStop: Bool = false) async -> Bool {
        guard let peers else { return false }
        var serving = false
        if let connection = try? await openConnection(host),
           let server = await peers.server(on: host, start: { address, token in
               let result = try await connection.check(PeerTransfer.startCommand(address: address, token: token), options: RunOptions(timeoutSeconds: 30))
               guard let port = Int(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)), port > 0 else {
                   throw WorkflowError.unexpectedAnswer("the peer server on \(host) printed no port")
               }
               return PeerServer(address: address, port: port, token: token)
           }) {
            serving = (try? await connection.check(PeerTransfer.registerCommand(token: server.token, sha256: sha256, path: path,
                                                                               removeOnStop: removeOnStop))) != nil
        }
        await peers.holds(sha256, host: host, serving: serving, seeded: seeded)
        return serving
    }

    /// Stops every peer server this phase started (called by the runner at the end of each phase).
    func stopPeerServers() async {
        guard let peers else { return }
        if let why = await peers.takeStopReason() {
            emit(.warning, "warning: peer transfer is off for the rest of this run (\(why)); this machine sends every file")
        }
        let hosts = await peers.takeServers()
        let token = peers.token
        _ = await FanOut.run(hosts, name: { $0 }) { host in
            _ = try await self.openConnection(host).run(PeerTransfer.stopCommand(token: token), options: RunOptions(timeoutSeconds: 30))
        }
    }

    /// What went wrong, in one line: the command's last line of stderr when a command failed.
    private static func firstLine(of error: any Error) -> String {
        if case HostError.commandFailed(_, _, let status, let stderr) = error,
           let last = stderr.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            return "exit \(status): \(last)"
        }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}
