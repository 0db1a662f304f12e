/// Phase engine and the workflows (provision, etcd, control plane, workers, backup, rotation, upgrade).
public enum Workflows {}
