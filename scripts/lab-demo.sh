#!/usr/bin/env bash
# Capstan's main job on this machine: bring up the local lab (three systemd-nspawn hosts with sshd)
# and converge the lab inventory on it (PKI, etcd, containerd, control plane, kubelets), then show
# the cluster's state.
#
# Kubernetes release binaries cannot be downloaded here, so this demo installs Capstan's STAND-INS
# (Tests/Standins/k8s-standin.py under the names kube-apiserver, kubelet, …): they check the
# certificates and flags Capstan gives them, reach etcd with the client certificate and serve /livez
# over TLS, but they are not Kubernetes. etcd, containerd, runc and the CNI plugins are real.
# To install real binaries instead, set CAPSTAN_K8S_ARTIFACTS to a directory holding them in the
# upstream layout (kubernetes/v1.31.4/bin/linux/amd64/<name> + <name>.sha256).
#
# CAPSTAN_LAB names the lab (default: default), so the demo can run beside other labs.
set -euo pipefail
cd "$(dirname "$0")/.."
lab=${CAPSTAN_LAB:-default}
started=$(date +%s)
bash scripts/prereqs.sh
swift build --product capstan
bin=$(swift build --show-bin-path)/capstan

"$bin" lab up --name "$lab"
lab_dir=/var/lib/capstan/lab/$lab
lab_artifacts=/var/cache/capstan/lab/artifacts

# The artifact directory for this run: the lab's (etcd, containerd, runc, CNI plugins from Debian)
# plus the Kubernetes binaries, each entry a link so nothing is copied.
artifacts=/var/cache/capstan/lab/k8s-artifacts-$lab
rm -rf "$artifacts" && mkdir -p "$artifacts"
for entry in "$lab_artifacts"/*; do ln -s "$entry" "$artifacts/"; done
if [ -n "${CAPSTAN_K8S_ARTIFACTS:-}" ]; then
  echo "Kubernetes binaries: real ones from $CAPSTAN_K8S_ARTIFACTS"
  ln -s "$CAPSTAN_K8S_ARTIFACTS/kubernetes" "$artifacts/kubernetes"
else
  echo "Kubernetes binaries: STAND-INS (Tests/Standins/k8s-standin.py), not Kubernetes; set CAPSTAN_K8S_ARTIFACTS to a directory of real release binaries to use those"
  sh scripts/standin-artifacts.sh "$artifacts" 1.31.4 >/dev/null
fi

# The lab inventory with only artifacts.directory changed, beside the original (same state directory).
inventory=$lab_dir/inventory-k8s.yaml
sed "s|^    directory: $lab_artifacts\$|    directory: $artifacts|" "$lab_dir/inventory.yaml" > "$inventory"
grep -q "directory: $artifacts" "$inventory" || { echo "could not point $inventory at $artifacts" >&2; exit 1; }

"$bin" validate -i "$inventory"
"$bin" plan -i "$inventory"
"$bin" apply -i "$inventory"
"$bin" status -i "$inventory"
echo
echo "lab-demo: done in $(( $(date +%s) - started )) s (build included)."
echo "The lab stays up: try '$bin plan -i $inventory', '$bin lab ssh --name $lab h1', and '$bin lab down --name $lab' when done."
