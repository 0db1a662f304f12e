import Inventory

/// Work done once per cluster through the API rather than on a host, as `capstan plan` lists it. The
/// phases per host are those `apply` runs (`ClusterPhases.layout` in the Workflows module), so the plan
/// names exactly what `--skip-phase` takes.
public enum ClusterLevelWork {
    public static func summary(_ inv: Inventory) -> [String] {
        // Self-managed: apply's cluster-objects phase; managed: the provider's API, with credentials the operator brings.
        guard inv.isSelfManaged else { return ["add-ons (capstan addons apply --kubeconfig FILE)"] }
        var objects = ["bootstrap RBAC"]
        if inv.addons.dns.enabled { objects.append("CoreDNS") }
        if inv.addons.monitoring { objects.append("monitoring") }
        return ["cluster-objects: " + objects.joined(separator: ", ") + " (server-side apply, pruned when dropped)"]
    }
}
