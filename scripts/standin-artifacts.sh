#!/bin/sh
# Builds a local artifact directory in the upstream Kubernetes release layout
#   DIR/kubernetes/vVERSION/bin/linux/amd64/<name> + <name>.sha256
# holding Capstan's stand-in executables (Tests/Standins/k8s-standin.py) under the names
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy, each with the flag table
# and configuration schemas of VERSION's minor built in (Sources/Inventory/KubernetesFlags, Sources/Inventory/KubernetesSchemas), and kubectl. An inventory with
#   artifacts: {source: local, directory: DIR}
# then installs the stand-ins exactly as it would install release binaries. To run the same suite with
# real release binaries, point CAPSTAN_K8S_ARTIFACTS at a directory in this layout instead.
# The kubectl stand-in answers `version --client` with VERSION, records cordon/drain/uncordon calls and
# keeps the objects `apply` sends (server-side apply, diff, get, delete) in a file on the host; see its header.
#
# usage: scripts/standin-artifacts.sh DIR [VERSION]   (VERSION defaults to 1.31.4)
set -eu
dir=${1:?usage: scripts/standin-artifacts.sh DIR [VERSION]}
version=${2:-1.31.4}
version=${version#v}
here=$(cd "$(dirname "$0")/.." && pwd)
standin="$here/Tests/Standins/k8s-standin.py"
[ -f "$standin" ] || { echo "missing $standin" >&2; exit 1; }
bin="$dir/kubernetes/v$version/bin/linux/amd64"
mkdir -p "$bin"
for name in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  # Each copy carries the flag table of its component and the configuration schemas of its minor.
  python3 "$standin" embed "$name" "$version" > "$bin/.$name.tmp"
  chmod 0755 "$bin/.$name.tmp"
  mv "$bin/.$name.tmp" "$bin/$name"
  sha256sum "$bin/$name" | cut -d' ' -f1 > "$bin/$name.sha256"
done
# kubectl is the stand-in too: a real kubectl has nothing to talk to behind a stand-in API server.
sed "s/@VERSION@/$version/" "$standin" > "$bin/.kubectl.tmp"
chmod 0755 "$bin/.kubectl.tmp" && mv "$bin/.kubectl.tmp" "$bin/kubectl"
sha256sum "$bin/kubectl" | cut -d' ' -f1 > "$bin/kubectl.sha256"
echo "$bin"
