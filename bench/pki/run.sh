#!/usr/bin/env bash
# Benchmark (not a test): the full PKI for 3 control-plane + 100 worker hosts, `capstan certs generate`
# (release build) against a shell script doing the same set with the openssl CLI, side by side in one
# run, for ECDSA P-256 and RSA-2048. Each side runs RUNS times (default 3) into a fresh directory; the
# table gives the median wall time and the CPU time of that run. Writes bench/pki/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "building capstan (release), log in $work/build.log"
swift build -c release --product capstan > "$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; exit 1; }
bin=$(swift build -c release --show-bin-path)/capstan

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

# Runs a command under /usr/bin/time with its output in a file; prints "wall cpu".
timed() { # timefile outfile command...
  local tf=$1 out=$2 t0 t1 u s
  shift 2
  sync # start each run with no dirty data of an earlier run to flush
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$tf" "$@" > "$out" 2>&1 || { cat "$out" >&2; return 1; }
  t1=$(date +%s.%N)
  read -r u s < "$tf"
  echo "$(echo "$t1 - $t0" | bc) $(echo "$u + $s" | bc)"
}

capstan_run() { # algorithm dir
  rm -rf "$2" && mkdir -p "$2"
  inventory "$2/inventory.yaml" "$1"
  timed "$2/time" "$2/out" "$bin" certs generate -i "$2/inventory.yaml"
}

openssl_run() { # algorithm dir
  rm -rf "$2" && mkdir -p "$2"
  timed "$2/time" "$2/log" bash bench/pki/openssl-pki.sh "$2/out" "$1" 3 100
}

# Median of "wall cpu" lines by wall; prints "wall cpu walls-list".
median() {
  sort -n | awk '{ w[NR] = $1; c[NR] = $2 } END { m = int((NR + 1) / 2); list = ""; for (i = 1; i <= NR; i++) list = list (i > 1 ? ", " : "") sprintf("%.3f", w[i]); printf "%s %s %s\n", w[m], c[m], list }'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rows=()
walls=()
for alg in ecdsa-p256 rsa-2048; do
  : > "$work/capstan-$alg.times"
  : > "$work/openssl-$alg.times"
  for r in $(seq 1 "$runs"); do
    capstan_run "$alg" "$work/capstan-$alg" >> "$work/capstan-$alg.times"
    openssl_run "$alg" "$work/openssl-$alg" >> "$work/openssl-$alg.times"
  done
  # The last Capstan run's output must be the complete, verifiable PKI.
  state="$work/capstan-$alg/.capstan/bench"
  ccrt=$(find "$state" -name '*.crt' | wc -l)
  cconf=$(find "$state/kubeconfig" -name '*.conf' | wc -l)
  ocrt=$(find "$work/openssl-$alg/out" -name '*.crt' | wc -l)
  openssl verify -CAfile "$state/pki/ca.crt" "$state/pki/hosts/cp1/apiserver.crt" "$state/pki/hosts/w100/kubeconfig/kubelet.crt" > /dev/null
  read -r cw cc cwalls < <(median < "$work/capstan-$alg.times")
  read -r ow oc owalls < <(median < "$work/openssl-$alg.times")
  speedup=$(echo "scale=1; $ow / $cw" | bc)
  cores_used=$(echo "scale=2; $cc / $cw" | bc)
  rows+=("| $alg | $ccrt + $cconf kubeconfigs | $(printf %.3f "$cw") s | $(printf %.3f "$cc") s | $cores_used | $ocrt | $(printf %.3f "$ow") s | $(printf %.3f "$oc") s | ${speedup}x |")
  walls+=("- $alg: Capstan wall per run $cwalls s; openssl wall per run $owalls s")
  echo "$alg: capstan ${cw}s (cpu ${cc}s) vs openssl ${ow}s (cpu ${oc}s)"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "# PKI benchmark: 3 control-plane + 100 worker hosts"
  echo
  echo "Measured by \`bench/pki/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "$(uname -sr), $(df -T "$work" | awk 'NR == 2 { print $2 }') file system, $(openssl version | cut -d' ' -f1-2), \`capstan\` release build,"
  echo "$runs runs per side (median by wall time), load average $load_before before and $load_after after."
  echo
  echo "- Capstan: \`capstan certs generate -i inventory.yaml\` = 3 CAs + sa key pair + 133 leaves + the kubeconfigs,"
  echo "  written through one state-directory transaction (temp files, syncfs, renames, syncfs)."
  echo "- openssl: \`openssl-pki.sh\` = the same 3 CAs + sa key pair + 133 leaves, one openssl call per key, request and"
  echo "  signature, sequential, no kubeconfigs and no fsync."
  echo "- CPU = user + system time of the whole process; cores used = CPU / wall of the Capstan run."
  echo
  echo "| keys | Capstan .crt | Capstan wall | Capstan CPU | cores used | openssl .crt | openssl wall | openssl CPU | speed-up (wall) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  printf '%s\n' "${walls[@]}"
} > bench/pki/results.md
cat bench/pki/results.md
