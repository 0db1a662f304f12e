import Foundation
import Hosts
import Lab

/// One lab per test process: integration tests of every module share it, it comes up once, and it
/// is torn down when the process exits (and `capstan lab down` cleans up if the process was killed).
extension Lab {
    /// Name of the lab tests use by default: never `default`, which belongs to the user.
    public static let testLabName = "test"

    /// Brings up (or reuses) lab `name` with `hosts` hosts for this test process.
    public static func shared(hosts: Int = 3, name: String = Lab.testLabName, progress: LabProgress = .silent) throws -> Lab {
        try SharedLabs.instance.lab(name: name, hosts: hosts, progress: progress)
    }

    /// Takes lab `name` down now and forgets it (the next `shared` brings it up again).
    public static func tearDownShared(name: String) throws {
        try SharedLabs.instance.tearDown(name: name)
    }

    /// Takes every lab `shared` brought up down; registered to run at process exit.
    public static func tearDownAllShared() {
        SharedLabs.instance.tearDownAll()
    }
}

private final class SharedLabs: @unchecked Sendable {
    static let instance = SharedLabs()
    private let lock = NSLock()
    private var labs: [String: Lab] = [:]
    private var exitHookInstalled = false

    func lab(name: String, hosts: Int, progress: LabProgress) throws -> Lab {
        lock.lock()
        defer { lock.unlock() }
        if !exitHookInstalled {
            atexit { Lab.tearDownAllShared() }
            exitHookInstalled = true
        }
        if let lab = labs[name], lab.hosts.count == hosts, lab.hosts.allSatisfy({ lab.isRunning($0.name) }) { return lab }
        let lab = try Lab(name: name)
        if let existing = lab.record, existing.hosts.count != hosts { try lab.down(progress: progress) }
        labs[name] = lab
        try lab.up(hosts: hosts, progress: progress)
        return lab
    }

    func tearDown(name: String) throws {
        lock.lock()
        defer { lock.unlock() }
        let lab = try labs[name] ?? Lab(name: name)
        labs[name] = nil
        try lab.down()
    }

    func tearDownAll() {
        lock.lock()
        let all = labs.values
        labs = [:]
        lock.unlock()
        for lab in all { try? lab.down() }
    }
}

extension Lab {
    /// How Capstan's own SSH reaches `host`: the lab key, the lab's known_hosts, strict host-key checking.
    public func endpoint(for host: LabHost) -> HostEndpoint {
        HostEndpoint(
            name: host.name, address: host.address, user: "root",
            authentication: [.privateKey(path: layout.identityFile, passphraseEnv: nil)],
            knownHostsFile: layout.knownHostsFile, knownHostsPolicy: .strict, connectTimeoutSeconds: 5
        )
    }
}
