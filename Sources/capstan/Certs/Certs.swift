import ArgumentParser

struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Certificate lifecycle: list, check, renew, rotate.",
        subcommands: [CertsList.self, CertsCheck.self, CertsRenew.self, CertsRotate.self]
    )
}

struct CertsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List certificates in the local state.")

    func run() async throws {
        throw NotImplemented(command: "certs list")
    }
}

struct CertsCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Read certificates on the hosts: expiry, issuer, SANs, drift.")

    func run() async throws {
        throw NotImplemented(command: "certs check")
    }
}

struct CertsRenew: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "renew", abstract: "Re-issue leaf certificates locally.")

    func run() async throws {
        throw NotImplemented(command: "certs renew")
    }
}

struct CertsRotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rotate", abstract: "Rotate leaves or CAs on a live cluster, health-gated.")

    func run() async throws {
        throw NotImplemented(command: "certs rotate")
    }
}
