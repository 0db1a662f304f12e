import ArgumentParser
import Inventory
import Workflows

extension InventoryOption {
    /// Loads `-i FILE` for a command: prints warnings and errors to stderr in `FILE:LINE:COL` form
    /// and exits 1 when there is any error. Returns the inventory and its warnings.
    func load(checkFiles: Bool = true) throws -> (Inventory, warnings: [Diagnostic]) {
        let result = InventoryLoader.load(path: inventory, checkFiles: checkFiles).checkingPhaseNames()
        if !result.diagnostics.isEmpty { printError(result.diagnostics.textLines) }
        guard var inv = result.inventory, result.errors.isEmpty else {
            printError(result.diagnostics.summary(file: inventory, hosts: nil))
            throw ExitCode(1)
        }
        inv.stateDirectory = chosenStateDirectory
        return (inv, result.warnings)
    }
}
