#!/usr/bin/env bash
# Benchmark (not a test): how long requests fail when an API server stops, through the node-local
# balancer (a worker's haproxy on 127.0.0.1:6443) and through the keepalived virtual IP. Each mode: a
# 3 control-plane + 1 worker lab cluster (stand-in Kubernetes binaries serving /readyz over TLS), a probe
# on the worker opening a new TLS connection every 50 ms, and STOPS API server stops one after another
# (node-local: h1, h2, h3 in turn; vip: the address's holder), each started again 5 s later.
# Failure window: node-local, first to last failed request after a stop; vip, the longest run of
# failed requests. Needs root and a debug build with tests (`swift build --build-tests`).
# Writes bench/lb/results.md.
#
# usage: bench/lb/run.sh [STOPS]   (default 10; CAPSTAN_TEST_LAB names the lab, default lbbench)
set -euo pipefail
cd "$(dirname "$0")/../.."
stops=${1:-10}
lab=${CAPSTAN_TEST_LAB:-lbbench}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
CAPSTAN_TEST_LAB=$lab CAPSTAN_LB_BENCH=$stops CAPSTAN_LB_BENCH_OUT=$table \
  swift test --skip-build --filter 'NodeBalancerLabTests/benchmark' | grep -E '^BENCH|MEASURED' || true
[ -s "$table" ] || { echo "the benchmark did not finish (see the swift test output)" >&2; exit 1; }
"$(swift build --show-bin-path)/capstan" lab down --name "$lab" >/dev/null 2>&1 || true
{
  echo "# API failover: node-local balancer and virtual IP"
  echo
  echo "Run on $(date -u +%Y-%m-%d) with \`bench/lb/run.sh $stops\`: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
  echo "systemd-nspawn lab hosts with Debian bookworm's haproxy and keepalived, stand-in API servers (Tests/Standins/k8s-standin.py)."
  echo
  echo "A probe on the worker opens a new TLS connection (verified against the cluster CA) every 50 ms. Failure"
  echo "window: node-local, first to last failed request after a stop; vip, the longest run of failed requests."
  echo "\"Address moved after\": from \`systemctl stop kube-apiserver\` on the holder until another host shows the"
  echo "address, polled from this machine (each poll is a command in a lab host, so it adds its own latency)."
  echo
  cat "$table"
} > bench/lb/results.md
cat bench/lb/results.md
