import Foundation

/// Working directories of a test process under the temporary directory, named for the process
/// (`capstan-NAME-PID`) and removed when it exits: the lab tests keep state directories, artifact copies and
/// inventories there, hundreds of MB a run. `CAPSTAN_KEEP_SCRATCH=1` keeps them to look at after a failure.
public enum Scratch {
    /// The path of scratch directory `name` of this process (not created here), removed at exit.
    public static func directory(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "capstan-\(name)-\(getpid())"
        Registry.shared.add(path)
        return path
    }

    private final class Registry: @unchecked Sendable {
        static let shared = Registry()
        private let lock = NSLock()
        private var paths: Set<String> = []
        private var hooked = false

        func add(_ path: String) {
            lock.withLock {
                paths.insert(path)
                if !hooked {
                    hooked = true
                    atexit { Registry.shared.removeAll() }
                }
            }
        }

        func removeAll() {
            guard ProcessInfo.processInfo.environment["CAPSTAN_KEEP_SCRATCH"] != "1" else { return }
            for path in lock.withLock({ paths }) { try? FileManager.default.removeItem(atPath: path) }
        }
    }
}
