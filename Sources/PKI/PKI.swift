/// The cluster PKI: certificate catalog, CA load-or-create, issuing and renewal, kubeconfigs.
public enum PKI {}
