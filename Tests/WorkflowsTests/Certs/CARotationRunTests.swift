import Foundation
import PKI
import Testing
import TestSupport
@testable import Workflows

/// The `--ca all` run record decides which CA a re-run rotates: these tests hold the rules for a run
/// killed before, during and between CAs, and for a run after a finished one.
@Suite("certs rotate --ca all: the run record and which CA comes next", .tags(.unit))
struct CARotationRunTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let later = Date(timeIntervalSince1970: 1_800_009_999)

    @Test("with no run and no CA rotation recorded (first run, or after a finished one), all three CAs are rotated, etcd first, starting now")
    func freshRun() {
        let run = CARotationRun.resume(recorded: nil, inProgress: nil, now: t0)
        #expect(run == CARotationRun(remaining: [.etcd, .cluster, .frontProxy], startedAt: t0))
    }

    @Test("killed between two CAs (etcd done, its record removed): a re-run continues with cluster, then front-proxy, keeping the start time")
    func killedBetweenCAs() {
        let recorded = CARotationRun(remaining: [.cluster, .frontProxy], startedAt: t0)
        let run = CARotationRun.resume(recorded: recorded, inProgress: nil, now: later)
        #expect(run.remaining == [.cluster, .frontProxy])
        #expect(!run.remaining.contains(.etcd))
        #expect(run.startedAt == t0)
    }

    @Test("killed inside a CA: that CA's record is continued first, the recorded order kept after it")
    func killedInsideCA() {
        let recorded = CARotationRun(remaining: [.cluster, .frontProxy], startedAt: t0)
        #expect(CARotationRun.resume(recorded: recorded, inProgress: .cluster, now: later).remaining == [.cluster, .frontProxy])
        #expect(CARotationRun.resume(recorded: recorded, inProgress: .frontProxy, now: later).remaining == [.frontProxy, .cluster])
    }

    @Test("killed after the run dropped a CA but before that CA's record was removed: the CA is finished first, then the rest")
    func killedWhileFinishing() {
        let recorded = CARotationRun(remaining: [.cluster, .frontProxy], startedAt: t0)
        #expect(CARotationRun.resume(recorded: recorded, inProgress: .etcd, now: later).remaining == [.etcd, .cluster, .frontProxy])
    }

    @Test("a single-CA rotation in progress without a recorded run: --ca all finishes it, then rotates the other two")
    func singleInProgress() {
        let run = CARotationRun.resume(recorded: nil, inProgress: .cluster, now: t0)
        #expect(run.remaining == [.cluster, .etcd, .frontProxy])
    }

    @Test("an empty recorded run counts as finished: a new run of all three starts now")
    func emptyRecordedRun() {
        let run = CARotationRun.resume(recorded: CARotationRun(remaining: [], startedAt: t0), inProgress: nil, now: later)
        #expect(run == CARotationRun(remaining: [.etcd, .cluster, .frontProxy], startedAt: later))
    }

    @Test("completing drops only that CA; completing the last one ends the run; a CA not in the run changes nothing")
    func completing() {
        let run = CARotationRun(remaining: [.etcd, .cluster, .frontProxy], startedAt: t0)
        #expect(run.completing(.etcd) == CARotationRun(remaining: [.cluster, .frontProxy], startedAt: t0))
        #expect(run.completing(.etcd)?.completing(.cluster)?.completing(.frontProxy) == nil)
        let rest = CARotationRun(remaining: [.frontProxy], startedAt: t0)
        #expect(rest.completing(.etcd) == rest)
    }

    @Test("the record round-trips through the state directory (mode 0600), nil removes it, and a re-run after removal starts all three again")
    func roundTrip() throws {
        let root = NSTemporaryDirectory() + "capstan-carun-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let state = StateDirectory(root: root)
        #expect(try CARotationRun.load(state) == nil)
        let run = CARotationRun(remaining: [.cluster, .frontProxy], startedAt: t0)
        try CARotationRun.save(run, in: state)
        #expect(try CARotationRun.load(state) == run)
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: state.path(CARotationRun.path))[.posixPermissions] as? Int)
        #expect(mode & 0o777 == 0o600)
        let text = try String(contentsOfFile: state.path(CARotationRun.path), encoding: .utf8)
        #expect(text.contains("\"ca\"") && text.contains("\"front-proxy-ca\"") && !text.contains("etcd/ca"), "the file names the CAs left: \(text)")
        try CARotationRun.save(nil, in: state)
        #expect(!FileManager.default.fileExists(atPath: state.path(CARotationRun.path)))
        #expect(CARotationRun.resume(recorded: try CARotationRun.load(state), inProgress: nil, now: later).remaining == [.etcd, .cluster, .frontProxy])
    }

    @Test("a damaged record is an error naming the file and what to do, not a silent fresh start")
    func damagedRecord() throws {
        let root = NSTemporaryDirectory() + "capstan-carun-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let state = StateDirectory(root: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data("{\"remaining\": [\"not-a-ca\"]".utf8).write(to: URL(fileURLWithPath: state.path(CARotationRun.path)))
        let error = #expect(throws: WorkflowError.self) { try CARotationRun.load(state) }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains(CARotationRun.path) && text.contains("remove it"), "\(text)")
        #expect(error?.failureKind == .stateFile, "typed as a state-directory file, not by its text")
        #expect(error?.cause is DecodingError, "the decoder's error is kept as the cause: \(String(describing: error?.cause))")
    }

    @Test("the rotation gates the controller manager and scheduler on their TLS /healthz (10257, 10259, self-signed: -k), kubelet and kube-proxy on plain /healthz, with the upgrade's probes")
    func gateProbes() throws {
        let cm = try #require(CertRotation.healthProbe(.controllerManager))
        #expect(cm.unit == "kube-controller-manager.service" && cm.url == "https://127.0.0.1:10257/healthz" && cm.checks[1].line.contains(" -k "))
        let scheduler = try #require(CertRotation.healthProbe(.scheduler))
        #expect(scheduler.url == "https://127.0.0.1:10259/healthz" && scheduler.checks[1].line.contains(" -k "))
        #expect(CertRotation.healthProbe(.kubelet)?.url == "http://127.0.0.1:10248/healthz")
        #expect(CertRotation.healthProbe(.kubeProxy)?.url == "http://127.0.0.1:10256/healthz")
        #expect(CertRotation.healthProbe(.etcd) == nil && CertRotation.healthProbe(.apiServer) == nil)
    }
}
