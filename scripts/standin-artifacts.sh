#!/bin/sh
# Builds a local artifact directory in the upstream Kubernetes release layout
#   DIR/kubernetes/vVERSION/bin/linux/amd64/<name> + <name>.sha256
# holding Capstan's stand-in executables (Tests/Standins/k8s-standin.py) under the names
# kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl. An inventory with
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
# kubectl is the stand-in too: a real kubectl has nothing to talk to behind a stand-in API server.
for name in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  sed "s/@VERSION@/$version/" "$standin" > "$bin/.$name.tmp"
  chmod 0755 "$bin/.$name.tmp"
  mv "$bin/.$name.tmp" "$bin/$name"
  sha256sum "$bin/$name" | cut -d' ' -f1 > "$bin/$name.sha256"
done
echo "$bin"
