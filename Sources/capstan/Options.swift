import Foundation
import ArgumentParser

enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text, json
}

struct InventoryOption: ParsableArguments {
    @Option(name: [.short, .customLong("inventory")], help: ArgumentHelp(
        "Inventory file (YAML, capstan.dev/v1alpha1); default: $CAPSTAN_INVENTORY, else ./inventory.yaml.",
        valueName: "file"))
    var inventoryArgument: String?
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "The cluster's state directory (PKI, records); default: .capstan/<cluster>/ beside the inventory, or $CAPSTAN_STATE_DIR.",
        valueName: "dir"))
    var stateDir: String?

    /// The inventory file: `-i`, else `CAPSTAN_INVENTORY`, else `inventory.yaml` in the working directory.
    var inventory: String {
        if let inventoryArgument, !inventoryArgument.isEmpty { return inventoryArgument }
        if let env = ProcessInfo.processInfo.environment["CAPSTAN_INVENTORY"], !env.isEmpty { return env }
        return Self.defaultInventory
    }

    static let defaultInventory = "inventory.yaml"

    func validate() throws {
        if (inventoryArgument ?? "").isEmpty, (ProcessInfo.processInfo.environment["CAPSTAN_INVENTORY"] ?? "").isEmpty,
           !FileManager.default.fileExists(atPath: Self.defaultInventory) {
            throw ValidationError("no inventory: give -i FILE, set CAPSTAN_INVENTORY=FILE, or run in the directory that holds \(Self.defaultInventory)")
        }
    }

    /// `--state-dir`, else `CAPSTAN_STATE_DIR`, else nil (beside the inventory).
    var chosenStateDirectory: String? {
        if let stateDir, !stateDir.isEmpty { return stateDir }
        if let env = ProcessInfo.processInfo.environment["CAPSTAN_STATE_DIR"], !env.isEmpty { return env }
        return nil
    }
}

struct OutputOption: ParsableArguments {
    @Option(name: .long, help: "Output format: text or json.")
    var output: OutputFormat = .text
}

/// For commands that only read the inventory: lets it be checked on a machine without its key files.
struct FileCheckOption: ParsableArguments {
    @Flag(name: .customLong("no-file-checks"), help: "Do not check that files the inventory names (keys, CA files, tokens) are readable here.")
    var noFileChecks = false
}
