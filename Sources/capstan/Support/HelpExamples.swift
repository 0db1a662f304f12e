/// One or more examples per command, shown in its `--help` (without `-i`, the inventory is
/// `$CAPSTAN_INVENTORY` or `./inventory.yaml`). A test checks that every leaf command has examples, that each
/// starts with that command, and that every option an example writes is one the command accepts. Keep each
/// within 78 characters: the help wraps longer lines.
enum HelpExamples {
    static let byCommand: [String: [String]] = [
        "init": ["capstan init --example bare-metal-ha > cluster.yaml", "capstan init --list"],
        "validate": ["capstan validate -i cluster.yaml", "capstan validate -i cluster.yaml --no-file-checks --output json"],
        "plan": ["capstan plan -i cluster.yaml", "capstan plan -i cluster.yaml --offline", "capstan plan -i cluster.yaml --detailed-exitcode"],
        "apply": ["capstan apply -i cluster.yaml", "capstan apply -i cluster.yaml --dry-run",
                  "capstan apply -i cluster.yaml --only pki,etcd", "capstan apply -i cluster.yaml --renew-before 30d"],
        "status": ["capstan status -i cluster.yaml", "capstan status -i cluster.yaml --watch 10", "capstan status -i cluster.yaml --output json"],
        "audit": ["capstan audit -i cluster.yaml", "capstan audit -i cluster.yaml --host cp1 --output json"],
        "certs list": ["capstan certs list -i cluster.yaml"],
        "certs check": ["capstan certs check -i cluster.yaml --output json"],
        "certs renew": ["capstan certs renew -i cluster.yaml --all", "capstan certs renew -i cluster.yaml apiserver@cp1"],
        "certs rotate": ["capstan certs rotate -i cluster.yaml --dry-run", "capstan certs rotate -i cluster.yaml --expiring-within 30d --yes",
                         "capstan certs rotate -i cluster.yaml --ca cluster"],
        "certs generate": ["capstan certs generate -i cluster.yaml"],
        "certs rotate-sa-key": ["capstan certs rotate-sa-key -i cluster.yaml --dry-run", "capstan certs rotate-sa-key -i cluster.yaml --yes"],
        "secrets status": ["capstan secrets status -i cluster.yaml --output json"],
        "secrets rotate-key": ["capstan secrets rotate-key -i cluster.yaml --dry-run", "capstan secrets rotate-key -i cluster.yaml --yes"],
        "backup keygen": ["capstan backup keygen > backup-identity.txt"],
        "backup now": ["capstan backup now -i cluster.yaml"],
        "backup list": ["capstan backup list -i cluster.yaml --output json"],
        "backup verify": ["capstan backup verify -i cluster.yaml --identity backup-identity.txt --all"],
        "backup restore": ["capstan backup restore --from prod-eu1-20261201T020000Z --dry-run",
                           "capstan backup restore --identity id.txt --from prod-eu1-20261201T020000Z"],
        "backup schedule": ["capstan backup schedule -i cluster.yaml --dry-run", "capstan backup schedule -i cluster.yaml"],
        "backup prune": ["capstan backup prune -i cluster.yaml --keep 7 --dry-run"],
        "backup sync": ["capstan backup sync -i cluster.yaml --directory ./backups"],
        "upgrade plan": ["capstan upgrade plan -i cluster.yaml --to v1.32.0", "capstan upgrade plan -i eks.yaml --to v1.31.4"],
        "upgrade apply": ["capstan upgrade apply -i cluster.yaml --to v1.32.0 --dry-run", "capstan upgrade apply -i cluster.yaml --to v1.32.0 --yes",
                          "capstan upgrade apply -i eks.yaml --to v1.31.4 --kubeconfig eks.conf"],
        "upgrade rollback": ["capstan upgrade rollback -i cluster.yaml --dry-run"],
        "node add": ["capstan node add -i cluster.yaml h4 --dry-run", "capstan node add -i cluster.yaml h4 h5"],
        "node remove": ["capstan node remove -i cluster.yaml h4 --dry-run", "capstan node remove -i cluster.yaml h4 --yes"],
        "reset": ["capstan reset -i cluster.yaml --host w3 --dry-run", "capstan reset -i cluster.yaml --all --yes-destroy-cluster prod-eu1"],
        "kubeconfig": ["capstan kubeconfig -i cluster.yaml > admin.conf", "capstan kubeconfig -i cluster.yaml --user super-admin"],
        "exec": ["capstan exec -i cluster.yaml --role worker -- uptime", "capstan exec -i cluster.yaml --host cp1 -- systemctl status etcd"],
        "copy": ["capstan copy --role worker ./90-site.conf /etc/sysctl.d/90-site.conf",
                 "capstan copy -i cluster.yaml --host cp1 --mode 600 ./token /root/token"],
        "ssh": ["capstan ssh -i cluster.yaml cp1", "capstan ssh -i cluster.yaml cp1 --print-only"],
        "artifacts fetch": ["capstan artifacts fetch -i cluster.yaml --to ./bundle", "capstan artifacts fetch -i cluster.yaml --to ./bundle --images-from ./images"],
        "addons render": ["capstan addons render -i cluster.yaml", "capstan addons render -i cluster.yaml --to ./manifests"],
        "addons apply": ["capstan addons apply -i cluster.yaml --kubeconfig admin.conf"],
        "state show": ["capstan state show -i cluster.yaml"],
        "state import": ["capstan state import -i cluster.yaml --from cp1", "capstan state import -i cluster.yaml --from cp1 --state-dir ./state"],
        "explain": ["capstan explain spec.etcd.backup", "capstan explain spec.extraArgs --recursive", "capstan explain --markdown > inventory.md"],
        "lab up": ["capstan lab up", "capstan lab up --hosts 5 --name big"],
        "lab down": ["capstan lab down", "capstan lab down --name big"],
        "lab status": ["capstan lab status --output json"],
        "lab ssh": ["capstan lab ssh h1", "capstan lab ssh h1 -- systemctl status etcd"],
        "lab stop": ["capstan lab stop h2"],
        "lab start": ["capstan lab start h2"],
    ]

    /// `text` followed by the examples of the command at `path` (`"backup now"`).
    static func discussion(_ path: String, _ text: String = "") -> String {
        let examples = (byCommand[path] ?? []).map { "  " + $0 }.joined(separator: "\n")
        guard !examples.isEmpty else { return text }
        return (text.isEmpty ? "" : text + "\n\n") + "Examples:\n" + examples
    }
}
