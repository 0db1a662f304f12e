import Foundation
import Inventory
import PKI

/// `capstan certs rotate-sa-key`: a new service-account signing key without a moment in which a valid
/// token is refused.
///
/// 1. verify: a new key pair; every API server verifies with the old and the new public key
///    (`sa.pub` holds both) and still signs with the old one;
/// 2. sign: the API servers and controller managers sign with the new key; the old public key keeps
///    verifying the tokens it signed;
/// 3. drop: once `wait` has passed since step 2 (the kubelet renews a pod's projected token at 80 % of its
///    lifetime and at least every 24 h, so the default is 24 h), the old public key is removed.
///
/// Each step is written to the state (`ServiceAccountRotation`), then rolled out by the certificate
/// rotation's roll-out: one host at a time, every service reading a changed file restarted and gated on
/// health, a host that does not come back rolled back. A run stopped anywhere continues, when run again,
/// by rolling the recorded step out to the hosts that lack it. Tokens stored in Secrets of type
/// `kubernetes.io/service-account-token` are signed once and never renewed: those signed with the old key
/// stop working at step 3 and must be re-created.
public enum ServiceAccountKeyRotation {
    public enum Outcome: Sendable, Equatable {
        /// The rotation is over: only the new key signs and verifies.
        case finished
        /// The new key signs; the old one verifies until `dropAfter`; run again then.
        case waiting(dropAfter: Date)
        /// Stopped after the verify step as asked.
        case stoppedAfterVerify
    }

    public static func run(manager: PKIManager, wait: TimeSpan, stopAfterVerify: Bool = false,
                           _ ctx: WorkflowContext, _ settings: EtcdWorkflowSettings) async throws -> Outcome {
        guard settings.inventory.isSelfManaged else {
            throw WorkflowError.refused(what: "rotate the service-account key", found: "the cluster is managed: the provider signs its tokens",
                                        next: "use the provider's key rotation")
        }
        var record = try manager.loadServiceAccountRotation()
        if let record {
            await ctx.emit(.message, "continuing the service-account key rotation started \(ISO8601DateFormatter().string(from: record.startedAt)) at step \(record.step.rawValue)")
            _ = try await CertRotation.rollOut(ctx, settings)
        } else {
            try await ctx.changeState("create the next service-account key; every API server verifies tokens with both keys, the old one still signs") {
                _ = try manager.beginServiceAccountRotation(now: ctx.now())
            }
            if await ctx.planEndsHere(then: "roll sa.pub (both keys) out host by host, restarting each API server; sign with the new key (API servers and controller managers); after \(wait), drop the old key") {
                return .stoppedAfterVerify
            }
            _ = try await CertRotation.rollOut(ctx, settings)
            record = try manager.loadServiceAccountRotation()
        }
        if record?.step == .verify {
            if stopAfterVerify { return .stoppedAfterVerify }
            try await ctx.changeState("sign service-account tokens with the new key; the old key keeps verifying until it is dropped") {
                _ = try manager.signWithNextServiceAccountKey(now: ctx.now())
            }
            if await ctx.planEndsHere() { return .stoppedAfterVerify }
            _ = try await CertRotation.rollOut(ctx, settings)
            record = try manager.loadServiceAccountRotation()
        }
        guard let signingSince = record?.signingSince else { return .finished }
        let dropAfter = signingSince.addingTimeInterval(TimeInterval(wait.seconds))
        guard ctx.now() >= dropAfter else {
            await ctx.emit(.message, "the old service-account key keeps verifying tokens until \(ISO8601DateFormatter().string(from: dropAfter)) (--wait \(wait) after the new key began signing); run `capstan certs rotate-sa-key` again after that to drop it")
            return .waiting(dropAfter: dropAfter)
        }
        try await ctx.changeState("drop the old service-account key: tokens it signed are refused from now on") {
            _ = try manager.dropRetiredServiceAccountKey()
        }
        if await !ctx.planEndsHere() { _ = try await CertRotation.rollOut(ctx, settings) }
        return .finished
    }
}
