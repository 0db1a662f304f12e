import Foundation

extension Lab {
    /// The lab namespace with its bridge, and the veth pair from the root namespace into it.
    func ensureNetwork() throws {
        let ns = layout.labNamespace
        if !SystemFacts.exists("/run/netns/" + ns) {
            try ip(["netns", "add", ns], "creating network namespace \(ns)")
            try ip(["-n", ns, "link", "set", "lo", "up"], "configuring \(ns)")
            try ip(["-n", ns, "link", "add", "br0", "type", "bridge"], "creating the lab bridge")
            try ip(["-n", ns, "link", "set", "br0", "up"], "configuring the lab bridge")
        }
        let machineIf = layout.machineInterface
        let cidr = layout.machineAddress + "/24"
        let existing = try LocalProcess.run(["ip", "-o", "-4", "addr", "show"]).stdout
        for line in existing.split(separator: "\n") where line.contains(" \(layout.subnetPrefix).") {
            let dev = line.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
            if dev != machineIf {
                throw LabError("the lab subnet \(layout.subnetPrefix).0/24 is already used on this machine by \(dev): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        if !(try LocalProcess.run(["ip", "link", "show", machineIf]).succeeded) {
            try ip(["link", "add", machineIf, "type", "veth", "peer", "name", "machine", "netns", ns], "creating the machine's veth into the lab")
            try ip(["-n", ns, "link", "set", "machine", "master", "br0", "up"], "plugging the machine's veth into the lab bridge")
        }
        if !existing.contains(" \(cidr) ") {
            try ip(["addr", "add", cidr, "dev", machineIf], "addressing \(machineIf)")
        }
        try ip(["link", "set", machineIf, "up"], "bringing \(machineIf) up")
    }

    func ip(_ arguments: [String], _ context: String) throws {
        try LocalProcess.check(["ip"] + arguments, context: context)
    }
}
