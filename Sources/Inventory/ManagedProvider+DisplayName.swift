extension ManagedProvider {
    /// The provider's product name, for messages that explain what it owns.
    public var displayName: String {
        switch self {
        case .eks: return "Amazon EKS"
        case .gke: return "Google GKE"
        case .aks: return "Azure AKS"
        case .other: return "the managed-Kubernetes provider"
        }
    }
}
