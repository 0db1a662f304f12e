import CLibSSH2
import Foundation
import Hosts

extension LibSSH2Session {
    /// Tries each method in order until one succeeds; the error lists every method tried and why it failed.
    func authenticate(user: String, methods: [HostEndpoint.Authentication], until deadline: Date) throws {
        var tried: [String] = []
        var reasons: [String] = []
        for method in methods {
            tried.append(method.label)
            switch method {
            case .privateKey(let path, let passphraseEnv):
                guard FileManager.default.isReadableFile(atPath: path) else {
                    reasons.append("\(path) is not readable")
                    continue
                }
                let passphrase = passphraseEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
                let rc = try retry(until: deadline, what: "authentication") {
                    libssh2_userauth_publickey_fromfile_ex(raw, user, UInt32(user.utf8.count), nil, path, passphrase)
                }
                if rc == 0 { return }
                if Self.isConnectionLost(rc) { throw failure(rc) { .disconnected(host: host, reason: $0) } }
                reasons.append("\(path): \(lastError().text)")
            case .agent:
                if try authenticateWithAgent(user: user, until: deadline, reasons: &reasons) { return }
            case .password(let env):
                guard let password = ProcessInfo.processInfo.environment[env] else {
                    reasons.append("environment variable \(env) is not set")
                    continue
                }
                let rc = try retry(until: deadline, what: "authentication") {
                    libssh2_userauth_password_ex(raw, user, UInt32(user.utf8.count), password, UInt32(password.utf8.count), nil)
                }
                if rc == 0 { return }
                if Self.isConnectionLost(rc) { throw failure(rc) { .disconnected(host: host, reason: $0) } }
                reasons.append("password: \(lastError().text)")
            }
        }
        throw HostError.authenticationFailed(host: host, user: user, tried: tried, reason: reasons.isEmpty ? "no authentication method configured" : reasons.joined(separator: "; "))
    }

    private func authenticateWithAgent(user: String, until deadline: Date, reasons: inout [String]) throws -> Bool {
        guard let socketPath = ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"], !socketPath.isEmpty else {
            reasons.append("ssh-agent: SSH_AUTH_SOCK is not set")
            return false
        }
        guard let agent = libssh2_agent_init(raw) else {
            reasons.append("ssh-agent: \(lastError().text)")
            return false
        }
        defer { libssh2_agent_free(agent) }
        libssh2_agent_set_identity_path(agent, socketPath)
        guard libssh2_agent_connect(agent) == 0 else {
            reasons.append("ssh-agent at \(socketPath): cannot connect (\(lastError().text))")
            return false
        }
        defer { libssh2_agent_disconnect(agent) }
        guard libssh2_agent_list_identities(agent) == 0 else {
            reasons.append("ssh-agent: cannot list identities (\(lastError().text))")
            return false
        }
        var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
        var count = 0
        while true {
            var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
            let rc = libssh2_agent_get_identity(agent, &identity, previous)
            if rc != 0 { break }
            count += 1
            let auth = try retry(until: deadline, what: "authentication") { libssh2_agent_userauth(agent, user, identity) }
            if auth == 0 { return true }
            if Self.isConnectionLost(auth) { throw failure(auth) { .disconnected(host: host, reason: $0) } }
            previous = identity
        }
        reasons.append(count == 0 ? "ssh-agent holds no keys" : "ssh-agent: none of its \(count) keys was accepted")
        return false
    }
}
