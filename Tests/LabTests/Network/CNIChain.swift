import Foundation
import Lab

/// Adds a "pod" to a lab host the way a container runtime does, with the exact conflist Capstan wrote:
/// a network namespace from `ip netns add`, then every plugin of the list run in order with
/// `CNI_COMMAND=ADD`, each given the network's name and cniVersion and the previous plugin's result
/// (`prevResult`), as libcni does for containerd's CRI.
///
/// Why not `ctr run --cni`: it needs a container image in containerd's content store, and no registry is
/// reachable from the lab; the pod network's behaviour lives in the namespace, the plugins and the
/// kernel, which this drives with the same binaries and configuration the runtime would.
enum CNIChain {
    struct Pod {
        var host: String
        var namespace: String
        /// The pod's address, from the chain's final result (`10.244.1.2`).
        var address: String
    }

    static func add(_ lab: Lab, host: String, pod: String, conflistPath: String = "/etc/cni/net.d/10-capstan.conflist") throws -> Pod {
        let conflist = try lab.run(in: host, ["cat", conflistPath])
        guard conflist.succeeded, let list = try JSONSerialization.jsonObject(with: Data(conflist.stdout.utf8)) as? [String: Any],
              let plugins = list["plugins"] as? [[String: Any]], let name = list["name"], let version = list["cniVersion"] else {
            throw LabError("\(host): \(conflistPath) is not a CNI configuration list: \(conflist.stdout)\(conflist.stderr)")
        }
        let created = try lab.run(in: host, ["sh", "-c", "ip netns del \(pod) 2>/dev/null; ip netns add \(pod)"])
        guard created.succeeded else { throw LabError("\(host): ip netns add \(pod): \(created.stderr)") }
        var previous: Any?
        for plugin in plugins {
            var config = plugin
            config["name"] = name
            config["cniVersion"] = version
            if let previous { config["prevResult"] = previous }
            guard let type = plugin["type"] as? String else { throw LabError("a plugin of \(conflistPath) on \(host) has no type") }
            let input = try JSONSerialization.data(withJSONObject: config).base64EncodedString()
            let env = "CNI_COMMAND=ADD CNI_CONTAINERID=\(pod) CNI_NETNS=/run/netns/\(pod) CNI_IFNAME=eth0 CNI_PATH=/opt/cni/bin"
            let r = try lab.run(in: host, ["sh", "-c", "echo \(input) | base64 -d | env \(env) /opt/cni/bin/\(type)"])
            guard r.succeeded, let result = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) else {
                throw LabError("\(host): CNI plugin \(type) ADD for \(pod) failed: \(r.stdout)\(r.stderr)")
            }
            previous = result
        }
        guard let result = previous as? [String: Any], let ips = result["ips"] as? [[String: Any]],
              let cidr = ips.first?["address"] as? String, let address = cidr.split(separator: "/").first else {
            throw LabError("\(host): the CNI chain for \(pod) returned no address: \(String(describing: previous))")
        }
        return Pod(host: host, namespace: pod, address: String(address))
    }

    /// Runs `command` inside the pod's network namespace.
    @discardableResult
    static func exec(_ lab: Lab, _ pod: Pod, _ command: [String]) throws -> LocalProcess.Output {
        try lab.run(in: pod.host, ["ip", "netns", "exec", pod.namespace] + command)
    }

    /// Starts a one-connection TCP listener on `host` (in `namespace`, or the host's own) that answers
    /// with the source address it sees, then asks it from `client`: what the listener saw.
    static func sourceSeen(_ lab: Lab, listenerHost: String, namespace: String?, address: String, port: Int, client: Pod) throws -> String {
        let server = "import socket;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('\(address)',\(port)));s.listen(1);s.settimeout(20);c,a=s.accept();c.sendall(a[0].encode());c.close()"
        let prefix = namespace.map { "ip netns exec \($0) " } ?? ""
        try lab.run(in: listenerHost, ["sh", "-c", "\(prefix)setsid python3 -c \"\(server)\" >/dev/null 2>&1 < /dev/null &"])
        let ask = "import socket,time\nfor i in range(50):\n  try:\n    s=socket.create_connection(('\(address)',\(port)),2);print(s.recv(64).decode());break\n  except OSError:\n    time.sleep(0.1)"
        let r = try exec(lab, client, ["python3", "-c", ask])
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
