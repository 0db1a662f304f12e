import Foundation
import Hosts

/// `etcd-disk`: the free space of each member's data directory, read before anything is installed or
/// restarted. etcd stops taking writes when its disk fills (the NOSPACE alarm), and a member restarted on a
/// full disk may not start again (each write-ahead log segment is preallocated at 64 MiB), which costs the
/// cluster a member in the middle of a roll-out. So:
/// - a host that will start a new member (no `member` directory yet) is refused below `newMember`: it receives
///   a snapshot of the cluster's data and writes its log from the start;
/// - a running member is refused below `restart`: a roll-out may restart it;
/// - any member below the backend quota (`--quota-backend-bytes`) gets a warning: the data may grow to it.
/// One command per host, declared as the phase's survey, so an earlier survey read of the host in the run carries it.
public enum EtcdDiskCheck {
    public static let phaseName = "etcd-disk"
    public static let newMember: Int64 = 2 << 30
    public static let restart: Int64 = 256 << 20

    public static func phase(_ settings: EtcdWorkflowSettings) -> Phase {
        let spec = settings.spec
        return Phase(phaseName, hosts: spec.memberNames,
                     next: "free space on the hosts named above (or give etcd a larger disk), then run the command again; nothing was changed") { ctx, host in
            let probe = try await read(ctx, host, dataDir: spec.dataDir)
            guard let available = probe.outputs["df"].flatMap(UpgradeFacts.available(df:)).map({ $0 * 1024 }) else {
                throw WorkflowError.hostFailed(host: host, what: "read the free space of \(spec.dataDir)",
                                               reason: "`df -Pk` said \(probe.outputs["df"].map { "'\($0)'" } ?? "nothing")",
                                               next: "check that df works on \(host)")
            }
            let member = probe.isDirectory(spec.dataDir + "/member")
            let floor = member ? restart : newMember
            if available < floor {
                let why = member ? "a restart during this run could leave the member unable to start" : "a new member receives a snapshot of the cluster's data"
                throw WorkflowError.refused(what: "\(member ? "change" : "start") the etcd member on \(host)",
                                            found: "\(ByteCount.text(available)) free for \(spec.dataDir), less than \(ByteCount.text(floor)): \(why)",
                                            next: "free space on \(host) (or give \(spec.dataDir) a larger disk) and run the command again")
            }
            if available < Int64(spec.quotaBackendBytes) {
                await ctx.emit(.warning, host: host, "warning: \(ByteCount.text(available)) free for \(spec.dataDir), less than etcd's backend quota (\(ByteCount.text(Int64(spec.quotaBackendBytes)))): etcd stops taking writes if its disk fills first")
            }
        }
        .surveying { ctx, host in _ = try await read(ctx, host, dataDir: spec.dataDir) }
    }

    /// The `df -Pk` line of the data directory (of its nearest existing parent before the first install),
    /// and whether it holds a member.
    static func read(_ ctx: WorkflowContext, _ host: String, dataDir: String) async throws -> HostProbe {
        try await ctx.probe(host, paths: [dataDir + "/member"], commands: [("df", df(dataDir))])
    }

    static func df(_ dataDir: String) -> ShellCommand {
        ShellCommand("sh", "-c", "P=$1; " + UpgradeFacts.freeSpaceOfP, "sh", dataDir)
    }
}
