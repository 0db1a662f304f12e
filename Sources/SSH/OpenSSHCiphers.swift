import Foundation
import Hosts

/// The cipher order the OpenSSH transport asks for.
///
/// OpenSSH's own default order starts with chacha20-poly1305, which is the faster choice on a CPU without AES
/// instructions. On one with them, AES-GCM costs less CPU per byte at both ends: for one 100 MiB upload to a
/// local sshd here, about 0.08 s less on each side (see bench/transfer). The client's order decides, so
/// Capstan puts the AES-GCM ciphers first when the operator's CPU has AES instructions, and keeps every other
/// cipher of the default after them, so a server that offers no AES-GCM still connects as before.
///
/// Capstan reorders only OpenSSH's built-in list: when the effective configuration for the host (`ssh -G`
/// with the user's and the system's files) names other ciphers than that built-in list, somebody chose them
/// (a policy, a FIPS profile, a `Host` block for boards without AES), and they are kept as they are.
enum OpenSSHCiphers {
    static let aesGCM = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]

    /// The `Ciphers` value to pass, or nil to leave ssh's choice alone: when the configuration chose its own
    /// ciphers, when the local CPU has no AES instructions, or when the default has no AES-GCM cipher.
    static func preferred(builtIn: [String], effective: [String], localAES: Bool) -> String? {
        guard localAES, !builtIn.isEmpty, effective == builtIn else { return nil }
        let first = aesGCM.filter(builtIn.contains)
        guard !first.isEmpty else { return nil }
        let order = first + builtIn.filter { !first.contains($0) }
        return order == builtIn ? nil : order.joined(separator: ",")
    }

    /// True when this machine's CPU has AES instructions: the `aes` flag (x86) or feature (arm64) in
    /// /proc/cpuinfo. Apple silicon and the Intel Macs OpenSSH runs on have them.
    static let localCPUHasAES: Bool = {
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return cpuInfoHasAES(text)
        #else
        return true
        #endif
    }()

    static func cpuInfoHasAES(_ text: String) -> Bool {
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
            guard key == "flags" || key == "features" else { continue }
            if parts[1].split(separator: " ").contains("aes") { return true }
        }
        return false
    }
}
