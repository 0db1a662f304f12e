import Foundation
import Hosts

/// `node add` on a node already in the cluster: its pod network changes by routes only (one more peer
/// subnet in its route file), so one command does what `converge` does in five. It checks that the rest of
/// the node's pod network is what `apply` would write (else `stale`: the caller converges in full), refuses a
/// destination another route already holds (what the pre-flight refuses), and writes the route file and
/// applies it live only when the file differs or the live routes and NAT rule do not match it.
enum PodRoutesRefresh {
    /// Arguments: route file, its wanted SHA-256, route protocol, apply script, `check` or `apply`, the
    /// masquerade rule's comment (`PodNetwork.masqueradeComment`), then path/SHA-256 pairs that must hold. The wanted route file comes on stdin. Prints one line:
    /// `unchanged`, `stale PATH`, `conflict DEST: ROUTE`, `update`/`updated` (the file differed) or
    /// `reapply`/`reapplied` (the file held, the live state did not).
    static let script = #"""
        set -u
        conf=$1 want=$2 proto=$3 apply=$4 mode=$5 comment=$6; shift 6
        sum() { sha256sum -- "$1" 2>/dev/null | cut -d' ' -f1; }
        while [ $# -ge 2 ]; do
          [ "$(sum "$1")" = "$2" ] || { echo "stale $1"; exit 0; }
          shift 2
        done
        new=$(cat; echo .); new=${new%.}
        for dst in $(printf '%s' "$new" | awk '$1 == "route" {print $2}'); do
          other=$(ip -4 route show exact "$dst" | grep -Ev " proto $proto( |$)" || true)
          [ -z "$other" ] || { echo "conflict $dst: $other"; exit 0; }
        done
        if [ "$(sum "$conf")" = "$want" ]; then
          live=$(ip -4 route show proto "$proto" | awk '{print $1}' | sort | tr '\n' ' ')
          file=$(awk '$1 == "route" {print $2}' "$conf" | sort | tr '\n' ' ')
          if [ "$live" = "$file" ] && awk '$1 == "masquerade" {print $2, $3}' "$conf" | {
               ok=0
               while read -r src pods; do
                 iptables -w -t nat -C POSTROUTING -s "$src" ! -d "$pods" -m comment --comment "$comment" -j MASQUERADE 2>/dev/null || ok=1
               done
               exit $ok
             }; then
            echo unchanged; exit 0
          fi
          [ "$mode" = apply ] || { echo reapply; exit 0; }
          sh "$apply" >&2 && echo reapplied
          exit $?
        fi
        [ "$mode" = apply ] || { echo update; exit 0; }
        tmp="$conf.capstan-$$"
        (umask 077 && printf '%s' "$new" > "$tmp") && [ "$(sum "$tmp")" = "$want" ] && chmod 644 "$tmp" && mv -f -- "$tmp" "$conf" || {
          rm -f -- "$tmp"; echo "cannot write $conf" >&2; exit 1; }
        sh "$apply" >&2 && echo updated
        """#

    /// The node's pod network files were not what `apply` writes: converge in full.
    struct Stale: Error { var path: String }

    /// One command; nil when nothing was (or would be) changed. Throws `Stale` for a full converge.
    static func run(_ ctx: WorkflowContext, host: String, files: PodNetworkWorkflow.NodeFiles) async throws -> String? {
        let context = files.context
        let pairs = [files.conflist, files.script, files.unitFile].flatMap { [$0.path, FileDiff.sha256Hex($0.content)] }
        let routes = context.routes.map { "\($0.node)'s \($0.subnet)" }.joined(separator: ", ")
        let conf = files.config
        return try await ctx.changeDecidedOnHost(host, affecting: [conf.path]) { apply, runner in
            let command = ShellCommand(["sh", "-c", script, "sh", conf.path, FileDiff.sha256Hex(conf.content), String(context.routeProtocol),
                                        files.script.path, apply ? "apply" : "check", PodNetwork.masqueradeComment] + pairs)
            let result = try await runner.run(command, options: RunOptions(timeoutSeconds: 120, stdin: conf.content))
            let line = result.stdoutText.split(separator: "\n").last.map(String.init) ?? ""
            guard result.succeeded else {
                throw WorkflowError.hostFailed(host: host, what: "update the pod routes", reason: result.stderrText.trimmingCharacters(in: .whitespacesAndNewlines),
                                               next: "see `sh -x \(files.script.path)` on \(host), then run the command again")
            }
            switch line.split(separator: " ").first.map(String.init) ?? "" {
            case "unchanged": return nil
            case "stale": throw Stale(path: String(line.dropFirst("stale ".count)))
            case "conflict":
                throw WorkflowError.hostFailed(host: host, what: "check the pod network", reason: "a route Capstan does not own holds \(line.dropFirst("conflict ".count))",
                                               next: "remove that route on \(host), or choose a spec.network.podCIDR no network on the hosts uses")
            case "update", "updated": return "pod network: update \(conf.path) and apply it live (routes to \(routes))"
            case "reapply", "reapplied": return "pod network: re-apply \(conf.path) (the live routes or NAT rule differ from it)"
            default:
                throw WorkflowError.hostFailed(host: host, what: "update the pod routes", reason: "unexpected answer: \(result.stdoutText)\(result.stderrText)",
                                               next: "run the command again; if it persists, run `capstan apply`")
            }
        }
    }
}
