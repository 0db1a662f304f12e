import Foundation
import Testing
import TestSupport

@Suite("one confirmation habit; the inventory's default path", .tags(.unit))
struct ConfirmationTests {
    @Test("every command that restarts, removes or restores outside apply offers --dry-run and --yes, and says what it does off a terminal")
    func habit() throws {
        let commands: [[String]] = [["certs", "rotate"], ["backup", "restore"], ["upgrade", "apply"], ["upgrade", "rollback"],
                                    ["node", "remove"], ["reset"]]
        for command in commands {
            let help = try capstan(command + ["--help"])
            #expect(help.status == 0, "\(command)")
            #expect(help.stdout.contains("--dry-run"), "\(command) has no --dry-run:\n\(help.stdout)")
            #expect(help.stdout.contains("--yes"), "\(command) has no --yes:\n\(help.stdout)")
        }
        // Off a terminal without --yes: nothing changes, exit 2, and the way to go ahead or to look first.
        let inventory = try NodeCommandTests().inventory()
        for args in [["node", "remove", "-i", inventory, "w1"], ["reset", "-i", inventory, "--host", "w1"]] {
            let r = try capstan(args)
            #expect(r.status == 2 && r.stderr.contains("not a terminal") && r.stderr.contains("--yes") && r.stderr.contains("--dry-run"), "\(args): \(r.stderr)")
        }
    }

    @Test("every leaf command that changes a host, the state directory or the backup store offers --dry-run; the others are named here with why")
    func dryRunEverywhere() throws {
        // Commands that change nothing of a cluster: they read, or write only a file the operator names on this machine,
        // or act on the local lab's machines (lab).
        let readOnly: Set<String> = [
            "init", "validate", "plan", "status", "audit", "certs list", "certs check", "backup keygen", "backup list", "backup verify",
            "upgrade plan", "kubeconfig", "ssh", "artifacts fetch", "addons render", "state show", "secrets status", "explain",
            "lab up", "lab down", "lab status", "lab ssh", "lab stop", "lab start",
        ]
        let leaves = try HelpHonestyTests().commandPaths().filter { ($0.node["subcommands"] as? [[String: Any]] ?? []).allSatisfy { $0["commandName"] as? String == "help" } }
        #expect(leaves.count > 35, "\(leaves.map(\.path))")
        for (path, node) in leaves {
            let name = path.joined(separator: " ")
            let options = (node["arguments"] as? [[String: Any]] ?? []).flatMap { ($0["names"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String } }
            if readOnly.contains(name) {
                #expect(!options.contains("dry-run"), "\(name) has --dry-run: take it off the read-only list")
            } else {
                #expect(options.contains("dry-run"), "capstan \(name) changes something and has no --dry-run")
            }
        }
    }

    @Test("-i may be left out: $CAPSTAN_INVENTORY, else ./inventory.yaml; neither is a usage error naming both")
    func inventoryDefault() throws {
        let inventory = try NodeCommandTests().inventory()
        let dir = (inventory as NSString).deletingLastPathComponent
        let bin = productsDirectory.appendingPathComponent("capstan").path
        var env = ProcessInfo.processInfo.environment
        env["CAPSTAN_INVENTORY"] = nil

        let none = try runProgram(["/bin/sh", "-c", "cd \"$1\" && exec \"$2\" validate", "sh", dir, bin], environment: env)
        #expect(none.status == 64 && none.stderr.contains("CAPSTAN_INVENTORY") && none.stderr.contains("inventory.yaml"), "\(none.stderr)")

        env["CAPSTAN_INVENTORY"] = inventory
        let fromEnv = try runProgram(["/bin/sh", "-c", "cd / && exec \"$1\" validate", "sh", bin], environment: env)
        #expect(fromEnv.status == 0 && fromEnv.stdout.contains("valid, 4 hosts"), "\(fromEnv.stdout)\(fromEnv.stderr)")

        env["CAPSTAN_INVENTORY"] = nil
        try FileManager.default.copyItem(atPath: inventory, toPath: dir + "/inventory.yaml")
        let fromDirectory = try runProgram(["/bin/sh", "-c", "cd \"$1\" && exec \"$2\" validate", "sh", dir, bin], environment: env)
        #expect(fromDirectory.status == 0 && fromDirectory.stdout.contains("inventory.yaml: valid"), "\(fromDirectory.stdout)\(fromDirectory.stderr)")
    }
}
