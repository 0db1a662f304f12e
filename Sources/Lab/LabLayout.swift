import Foundation

/// Where one lab keeps its state, and how its hosts are named and addressed.
///
/// Network: every host runs in its own network namespace, plugged into a bridge that lives in a
/// private lab namespace with no uplink. The machine reaches the hosts through one veth pair from
/// the root namespace into that bridge, with `10.213.<index>.1/24` on the root side, so ordinary
/// SSH (and etcdctl, openssl) reach the hosts at `10.213.<index>.11`, `.12`, … without entering a
/// namespace. Hosts get no default route, so nothing they send can leave the machine.
/// Lab `default` always uses index 0 (10.213.0.0/24); any other lab takes the lowest free index
/// from 1 to 254, recorded in its state directory so it keeps its subnet across `up` runs.
public struct LabLayout: Sendable, Equatable {
    public static let stateRoot = "/var/lib/capstan/lab"
    public static let cacheRoot = "/var/cache/capstan/lab"
    public static let artifactDirectory = cacheRoot + "/artifacts"
    public static let defaultName = "default"
    public static let maxHosts = 50

    public var name: String
    public var subnetIndex: Int

    public init(name: String, subnetIndex: Int) {
        self.name = name
        self.subnetIndex = subnetIndex
    }

    /// Lab names become parts of interface, namespace, cgroup and machine names: short lowercase words.
    public static func validate(name: String) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-")
        guard (1...11).contains(name.count), name.allSatisfy({ allowed.contains($0) }),
              name.first != "-", name.last != "-" else {
            throw LabError("invalid lab name \"\(name)\": use 1-11 characters a-z, 0-9 and '-' (not at either end)")
        }
    }

    public var directory: String { LabLayout.stateRoot + "/" + name }
    public var hostsDirectory: String { directory + "/hosts" }
    public var inventoryPath: String { directory + "/inventory.yaml" }
    public var identityFile: String { directory + "/id_ed25519" }
    public var knownHostsFile: String { directory + "/known_hosts" }
    public var backupKeyFile: String { directory + "/backup.key" }
    public var stateFile: String { directory + "/lab.json" }

    public var subnetPrefix: String { "10.213.\(subnetIndex)" }
    /// The root-namespace side of the lab's veth pair; the hosts see the machine at this address.
    public var machineAddress: String { subnetPrefix + ".1" }
    public func hostName(_ number: Int) -> String { "h\(number)" }
    public func hostAddress(_ number: Int) -> String { "\(subnetPrefix).\(10 + number)" }

    /// Network namespace that holds the bridge.
    public var labNamespace: String { "capstan-lab-\(name)" }
    /// Network namespace that holds a host's `eth0` until systemd-nspawn moves it into the container.
    /// (The dot keeps one lab's names from being a prefix of another's: lab names have no dots.)
    public func hostNamespace(_ host: String) -> String { "capstan-lab-\(name).\(host)" }
    /// Root-namespace end of the veth into the bridge (interface names are limited to 15 bytes,
    /// hence the 11-character lab names).
    public var machineInterface: String { "lab-\(name)" }
    /// Lab-namespace end of a host's veth, a port of the bridge.
    public func bridgePort(_ host: String) -> String { "v" + host }
    /// Locally administered MAC of a host's eth0, stable across restarts: 02:ca:70:<subnet>:00:<host number>.
    public func hostMAC(_ host: String) -> String {
        let number = Int(host.dropFirst()) ?? 0
        return String(format: "02:ca:70:%02x:00:%02x", subnetIndex, number)
    }
    /// systemd-nspawn machine name; unique across labs because nspawn keeps per-machine state in /run.
    public func machineName(_ host: String) -> String { "capstan-\(name)-\(host)" }
    /// cgroup subtree (relative to each hierarchy root) of the whole lab.
    public var cgroupPath: String { "capstan-lab/" + name }

    public func hostDirectory(_ host: String) -> String { hostsDirectory + "/" + host }
    public func hostRoot(_ host: String) -> String { hostDirectory(host) + "/root" }
}

/// What `lab up` recorded: enough for status/stop/start/down to find everything again.
public struct LabRecord: Codable, Sendable, Equatable {
    public struct Host: Codable, Sendable, Equatable {
        public var name: String
        public var address: String
        public var roles: [String]
    }

    public var name: String
    public var subnetIndex: Int
    public var baseImage: String
    public var hosts: [Host]
}
