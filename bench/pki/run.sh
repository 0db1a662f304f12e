#!/usr/bin/env bash
# Benchmark (not a test): the full PKI for 3 control-plane + 100 worker hosts, Capstan against a shell
# script doing the same set with the openssl CLI, side by side in one run, for ECDSA P-256 and RSA-2048.
# Writes bench/pki/results.md. Run from a built tree: swift build --build-tests (debug) or -c release.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
conf=${CONFIG:-debug}
bin=$(swift build -c "$conf" --show-bin-path)/capstan
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)

inventory() { # file algorithm
  {
    cat <<YAML
apiVersion: capstan.dev/v1alpha1
kind: Cluster
metadata:
  name: bench
spec:
  kubernetesVersion: v1.31.4
  controlPlane:
    endpoint: api.bench.test:6443
  pki:
    keyAlgorithm: $2
  hosts:
YAML
    for i in 1 2 3; do printf '    - name: cp%d\n      address: 10.0.0.%d\n      roles: [control-plane, etcd]\n' "$i" "$i"; done
    for i in $(seq 1 100); do printf '    - name: w%d\n      address: 10.0.%d.%d\n      roles: [worker]\n' "$i" $((1 + (i - 1) / 250)) $((1 + (i - 1) % 250)); done
  } > "$1"
}

now() { date +%s.%N; }

# Times one Capstan run; prints "wall cpu harness".
capstan_run() { # algorithm dir
  local alg=$1 dir=$2
  inventory "$dir/inventory.yaml" "$alg"
  local t0 t1
  t0=$(now)
  if /usr/bin/time -f "%U %S" -o "$dir/time" "$bin" certs generate -i "$dir/inventory.yaml" > "$dir/out" 2>&1; then
    t1=$(now)
    read -r u s < "$dir/time"
    echo "$(echo "$t1 - $t0" | bc) $(echo "$u + $s" | bc) capstan-certs-generate"
  else
    # The inventory loader is not there yet: time the same PKIManager.apply in-process.
    rm -rf "$dir/.capstan"
    CAPSTAN_PKI_BENCH_OUT="$dir/result" CAPSTAN_PKI_BENCH_ALG="$alg" CAPSTAN_PKI_BENCH_DIR="$dir" \
      swift test -c "$conf" --skip-build --filter PKIBenchmark > "$dir/out" 2>&1 || { cat "$dir/out" >&2; exit 1; }
    read -r wall cpu _ _ < "$dir/result"
    echo "$wall $cpu in-process-PKIManager.apply"
  fi
}

openssl_run() { # algorithm dir
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$2/time" bash bench/pki/openssl-pki.sh "$2/out" "$1" 3 100 > /dev/null 2>&1
  t1=$(now)
  read -r u s < "$2/time"
  echo "$(echo "$t1 - $t0" | bc) $(echo "$u + $s" | bc)"
}

rows=()
for alg in ecdsa-p256 rsa-2048; do
  mkdir -p "$work/capstan-$alg" "$work/openssl-$alg"
  read -r cw cc harness < <(capstan_run "$alg" "$work/capstan-$alg")
  read -r ow oc < <(openssl_run "$alg" "$work/openssl-$alg")
  ccrt=$(find "$work/capstan-$alg/.capstan" -name '*.crt' | wc -l)
  ocrt=$(find "$work/openssl-$alg/out" -name '*.crt' | wc -l)
  speedup=$(echo "scale=1; $ow / $cw" | bc)
  cores_used=$(echo "scale=2; $cc / $cw" | bc)
  rows+=("| $alg | $ccrt | $(printf %.3f "$cw") s | $(printf %.3f "$cc") s | $cores_used | $ocrt | $(printf %.3f "$ow") s | $(printf %.3f "$oc") s | ${speedup}x | $harness |")
  echo "$alg: capstan ${cw}s (cpu ${cc}s, $harness) vs openssl ${ow}s (cpu ${oc}s)"
done

{
  echo "# PKI benchmark: 3 control-plane + 100 worker hosts"
  echo
  echo "Measured by \`bench/pki/run.sh\` on $(date -u +%Y-%m-%d), $cores cores, $(openssl version | cut -d' ' -f1-2), build: $conf."
  echo "Capstan = 3 CAs + sa key + 133 leaves + kubeconfigs rendered, written atomically with fsync;"
  echo "openssl = the same 3 CAs + sa key + 133 leaves with one openssl call per key, request and signature (no kubeconfigs)."
  echo "\"cores used\" = CPU time / wall time of the Capstan run."
  echo
  echo "| keys | Capstan .crt | Capstan wall | Capstan CPU | cores used | openssl .crt | openssl wall | openssl CPU | speed-up | Capstan harness |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > bench/pki/results.md
cat bench/pki/results.md
