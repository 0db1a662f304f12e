import Foundation
import Inventory
import Templates

/// What the certificate-rotation timer units are rendered from.
struct CertsRotateTimerContext: Encodable {
    var clusterName: String
    var capstanPath: String
    var inventoryPath: String
    var window: String
    var schedule: String
    var serviceName: String
    var timeoutSeconds: Int
}

enum CertsRotateTimer {
    /// `~/.config/systemd/user` (or `$XDG_CONFIG_HOME/systemd/user`): a user-level timer on the operator's
    /// machine, where the inventory, state directory and SSH keys live.
    static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        let config = env["XDG_CONFIG_HOME"] ?? (NSHomeDirectory() + "/.config")
        return config + "/systemd/user"
    }

    /// Writes `capstan-certs-rotate-<cluster>.service` and `.timer` into `directory`; returns their paths.
    static func install(inventory: Inventory, window: String, directory: String, renderer: TemplateRenderer = TemplateRenderer()) throws -> [String] {
        guard let inventoryPath = inventory.sourcePath else { throw ValidationErrorText("the inventory has no file path to put in the timer") }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let base = "capstan-certs-rotate-\(inventory.name)"
        let context = CertsRotateTimerContext(
            clusterName: inventory.name, capstanPath: URL(fileURLWithPath: exe).standardizedFileURL.path,
            inventoryPath: URL(fileURLWithPath: inventoryPath).standardizedFileURL.path, window: window,
            schedule: "daily", serviceName: base + ".service", timeoutSeconds: 3600)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for (template, suffix) in [("certs/capstan-certs-rotate.service", ".service"), ("certs/capstan-certs-rotate.timer", ".timer")] {
            let path = directory + "/" + base + suffix
            try renderer.render(template, context: context).write(toFile: path, atomically: true, encoding: .utf8)
            written.append(path)
        }
        return written
    }
}
