// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "capstan",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "capstan", targets: ["capstan"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.1.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),
        /// `KubernetesFlags/` holds the flag table of each Kubernetes binary per minor (`spec.extraArgs` is
        /// checked against it), `KubernetesSchemas/` the Go types of the configuration files per minor
        /// (`spec.componentConfig` is checked against them); the strict stand-ins read the same files.
        /// `EtcdFlags/` holds the flags each etcd minor accepts, asked of the real binaries (`spec.etcd.extraArgs`).
        .target(name: "Inventory", dependencies: [.product(name: "Yams", package: "Yams")], resources: [.copy("KubernetesFlags"), .copy("KubernetesSchemas"), .copy("EtcdFlags"), .copy("FeatureGates")]),
        .target(name: "Hosts", dependencies: [
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "SSH", dependencies: [
            "CLibSSH2", "Hosts",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "PKI", dependencies: [
            "Inventory",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        /// `templates/` and `inventories/` stay at the top of the repository (operators read and override
        /// them there) and are copied as the Templates target's resource bundle so the installed binary
        /// carries the default templates and the examples `capstan init` writes.
        .target(
            name: "Templates",
            dependencies: [.product(name: "Mustache", package: "swift-mustache")],
            path: ".",
            exclude: [
                "Package.swift", "README.md", "Tests", "scripts", "bench", "docs",
                "Sources/CLibSSH2", "Sources/Hosts", "Sources/Inventory", "Sources/Lab", "Sources/PKI",
                "Sources/Planner", "Sources/SSH", "Sources/Workflows", "Sources/capstan",
            ],
            sources: ["Sources/Templates"],
            resources: [.copy("templates"), .copy("inventories")]
        ),
        .target(name: "Planner", dependencies: ["Inventory", "Hosts"]),
        .target(name: "Workflows", dependencies: [
            "Inventory", "PKI", "Hosts", "Templates", "Planner",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Lab", dependencies: ["Hosts", "Inventory"]),
        .executableTarget(name: "capstan", dependencies: [
            "Inventory", "PKI", "Hosts", "SSH", "Templates", "Planner", "Workflows", "Lab",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "InventoryTests", dependencies: ["Inventory", "TestSupport", .product(name: "Yams", package: "Yams")], resources: [.copy("Fixtures")]),
        .testTarget(name: "TemplatesTests", dependencies: ["Templates", "TestSupport"], resources: [.copy("Golden")]),
        .testTarget(name: "WorkflowsTests", dependencies: ["Workflows", "Inventory", "Hosts", "Templates", "TestSupport", .product(name: "Yams", package: "Yams")], resources: [.copy("Fixtures")]),
        .testTarget(name: "HostsTests", dependencies: ["Hosts", "TestSupport"]),
        /// Real sshd's and the S3 server on loopback, temp dirs, keys, running programs and the suites' tags; used only by test targets.
        .target(name: "TestSupport", dependencies: ["Hosts"], path: "Tests/TestSupport"),
        .testTarget(name: "SSHTests", dependencies: ["SSH", "Hosts", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["capstan", "TestSupport"]),
        .testTarget(name: "PlannerTests", dependencies: ["Planner", "Inventory", "Hosts", "TestSupport"]),
        .testTarget(name: "PKITests", dependencies: ["PKI", "Inventory", "TestSupport"]),
        .testTarget(name: "LabTests", dependencies: ["Lab", "SSH", "Hosts", "Inventory", "Workflows", "PKI", "Templates", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
