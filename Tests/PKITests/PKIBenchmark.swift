import Foundation
import Inventory
import PKI
import Testing

/// Not a test: the in-process harness `bench/pki/run.sh` uses while `capstan certs generate` cannot read
/// an inventory file. Runs only when CAPSTAN_PKI_BENCH_OUT names a result file; asserts nothing about time.
@Suite("PKIBenchmark")
struct PKIBenchmark {
    static let env = ProcessInfo.processInfo.environment

    @Test("full PKI for 3 control planes + 100 workers (benchmark harness)", .enabled(if: env["CAPSTAN_PKI_BENCH_OUT"] != nil))
    func fullPKI() async throws {
        let out = try #require(Self.env["CAPSTAN_PKI_BENCH_OUT"])
        let algorithm = try #require(KeyAlgorithm(rawValue: Self.env["CAPSTAN_PKI_BENCH_ALG"] ?? "ecdsa-p256"))
        let dir = URL(fileURLWithPath: try #require(Self.env["CAPSTAN_PKI_BENCH_DIR"]))
        var inv = Fixture.inventory(controlPlanes: 3, workers: 100, algorithm: algorithm, endpoint: "api.bench.test:6443", dir: dir)
        inv.name = "bench"
        let manager = PKIManager(inventory: inv, state: StateDirectory(inventory: inv))
        var before = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try await manager.apply(now: Date())
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        var after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &after)
        func secs(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        let cpu = secs(after.ru_utime) - secs(before.ru_utime) + secs(after.ru_stime) - secs(before.ru_stime)
        let line = String(format: "%.3f %.3f %d %d\n", wall, cpu, result.issued.count, result.written.count)
        try line.write(toFile: out, atomically: true, encoding: .utf8)
        #expect(result.issued.count == 133)
    }
}
