#!/usr/bin/env bash
# The same PKI as `capstan certs generate` (kubeadm's set: 3 CAs, sa key pair, per control plane
# apiserver/kubelet-client/etcd-client/front-proxy-client + controller-manager/scheduler client certs,
# per etcd member server/peer/healthcheck-client, admin/super-admin/kube-proxy, one kubelet client cert
# per node), made the way a shell user would: one openssl call per key, request and signature.
# Usage: openssl-pki.sh OUTDIR ALGORITHM(ecdsa-p256|rsa-2048) CONTROL_PLANES WORKERS
set -euo pipefail
out=$1 alg=$2 cps=$3 workers=$4
mkdir -p "$out"
cd "$out"
case "$alg" in
  ecdsa-p256) keyargs=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256) ;;
  rsa-2048) keyargs=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048) ;;
  *) echo "unknown algorithm $alg" >&2; exit 2 ;;
esac

genkey() { openssl genpkey "${keyargs[@]}" -out "$1" 2>/dev/null; }

ca() { # base cn
  mkdir -p "$(dirname "$1")"
  genkey "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 3650 -out "$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign"
}

leaf() { # base ca subject eku sans
  mkdir -p "$(dirname "$1")"
  genkey "$1.key"
  openssl req -new -key "$1.key" -subj "$3" -out "$1.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$4"
    [ -n "$5" ] && echo "subjectAltName=$5"
  } > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 365 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}

ca pki/ca kubernetes
ca pki/front-proxy-ca front-proxy-ca
ca pki/etcd/ca etcd-ca
genkey pki/sa.key
openssl pkey -in pki/sa.key -pubout -out pki/sa.pub

cpsans="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1,DNS:api.bench.test"
for i in $(seq 1 "$cps"); do cpsans+=",IP:10.0.0.$i"; done
for i in $(seq 1 "$cps"); do
  h=cp$i d=pki/hosts/$h
  leaf $d/apiserver pki/ca "/CN=kube-apiserver" serverAuth "$cpsans,DNS:$h"
  leaf $d/apiserver-kubelet-client pki/ca "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" clientAuth ""
  leaf $d/apiserver-etcd-client pki/etcd/ca "/CN=kube-apiserver-etcd-client" clientAuth ""
  leaf $d/front-proxy-client pki/front-proxy-ca "/CN=front-proxy-client" clientAuth ""
  leaf $d/etcd/server pki/etcd/ca "/CN=$h" serverAuth,clientAuth "DNS:$h,IP:10.0.0.$i,DNS:localhost,IP:127.0.0.1"
  leaf $d/etcd/peer pki/etcd/ca "/CN=$h" serverAuth,clientAuth "DNS:$h,IP:10.0.0.$i"
  leaf $d/etcd/healthcheck-client pki/etcd/ca "/CN=kube-etcd-healthcheck-client" clientAuth ""
  leaf $d/kubeconfig/controller-manager pki/ca "/CN=system:kube-controller-manager" clientAuth ""
  leaf $d/kubeconfig/scheduler pki/ca "/CN=system:kube-scheduler" clientAuth ""
  leaf $d/kubeconfig/kubelet pki/ca "/O=system:nodes/CN=system:node:$h" clientAuth ""
done
leaf pki/kubeconfig/admin pki/ca "/O=kubeadm:cluster-admins/CN=kubernetes-admin" clientAuth ""
leaf pki/kubeconfig/super-admin pki/ca "/O=system:masters/CN=kubernetes-super-admin" clientAuth ""
leaf pki/kubeconfig/kube-proxy pki/ca "/CN=system:kube-proxy" clientAuth ""
for i in $(seq 1 "$workers"); do
  h=w$i
  leaf pki/hosts/$h/kubeconfig/kubelet pki/ca "/O=system:nodes/CN=system:node:$h" clientAuth ""
done
