import Templates

/// Knobs of the node and control-plane install phases.
public struct KubernetesInstallSettings: Sendable {
    public var preflight: PreflightRequirements
    public var healthGate: HealthGate
    public var renderer: TemplateRenderer

    public init(preflight: PreflightRequirements = PreflightRequirements(), healthGate: HealthGate = HealthGate(),
                renderer: TemplateRenderer = TemplateRenderer()) {
        self.preflight = preflight
        self.healthGate = healthGate
        self.renderer = renderer
    }
}
