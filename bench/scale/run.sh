#!/usr/bin/env bash
# Benchmark (not a test): `capstan apply` of labs of N hosts from bare, with peer transfer (each artifact
# leaves this machine once, hosts fetch from hosts that hold it) and without (spec.artifacts.peerTransfer:
# false: this machine sends every file to every host), side by side in one run; then the no-op re-apply.
# Reports wall time, the bytes this machine sent and hosts fetched from peers (apply's summary line), and
# the peak RSS and CPU time (user + system) of capstan itself (GNU time). Needs root and a built capstan.
#
# usage: bench/scale/run.sh [SIZES]   (default "10 20 40"; CAPSTAN=path/to/capstan, default the debug build;
#        BINS="label=path …" measures several builds side by side instead, each in every mode (the lab is
#        managed with the first); MODES, default "peers direct"; KEEP=1 leaves the labs up; LOGDIR, default /tmp,
#        keeps each apply's output; RESULTS, default bench/scale/results.md, is the report written; SETTLE, default
#        10, is the pause in seconds after each wipe).
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=${1:-10 20 40}
bin=${CAPSTAN:-$(swift build --show-bin-path)/capstan}
build_of() { case "$1" in */debug/*) echo debug;; */release/*) echo release;; *) basename "$1";; esac; }
read -r -a bins <<<"${BINS:-$(build_of "$bin")=$bin}"
bin=${bins[0]#*=}
for spec in "${bins[@]}"; do
  [ -x "${spec#*=}" ] || { echo "no capstan at ${spec#*=} (swift build --product capstan)" >&2; exit 1; }
done
modes=${MODES:-peers direct}
results=${RESULTS:-bench/scale/results.md}

units="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy containerd etcd"
unit_files=$(for u in $units; do printf '/etc/systemd/system/%s.service ' "$u"; done)
. bench/lib/k8s-lab.sh
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Every host back to bare: Capstan's units stopped and disabled, everything apply places removed, and no state
# directory.
wipe() {
  local lab=$1 n=$2 pids=()
  for i in $(seq 1 "$n"); do
    "$bin" lab ssh --name "$lab" "h$i" "systemctl disable --now $units capstan-pod-network.service haproxy keepalived \$(cd /etc/systemd/system && ls capstan-*.timer 2>/dev/null) 2>/dev/null; rm -rf /var/lib/etcd /etc/kubernetes /etc/capstan /etc/containerd /opt/cni /etc/cni /etc/crictl.yaml /var/lib/kubelet /var/lib/kube-proxy /var/lib/containerd /run/containerd /etc/modules-load.d/k8s.conf /etc/sysctl.d/k8s.conf /usr/local/bin/etcd* /usr/local/bin/containerd* /usr/local/bin/ctr /usr/local/bin/kube* /usr/local/sbin/runc /usr/local/lib/capstan /var/lib/capstan /run/capstan-peer /etc/haproxy/haproxy.cfg /etc/keepalived/keepalived.conf /etc/systemd/system/capstan-* $unit_files; ip link del cni0 2>/dev/null; userdel etcd 2>/dev/null; systemctl daemon-reload; systemctl reset-failed 2>/dev/null; true" >/dev/null 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  rm -rf "/var/lib/capstan/lab/$lab/.capstan/lab"
  # The hosts' own teardown (units stopping, systemd tidying up) goes on after the commands return: let it
  # end before the measured apply starts (SETTLE seconds, default 10).
  sleep "${SETTLE:-10}"
}

# One apply with the binary $2 (default $bin): "wall;rss_kib;cpu_s;summary line".
apply() {
  /usr/bin/time -f "%e %M %U %S" -o "$out.time" "${2:-$bin}" apply -i "$1" >"$out" 2>&1 || { echo "FAILED: apply -i $1" >&2; tail -30 "$out" >&2; exit 1; }
  read -r t_wall t_rss t_user t_sys < "$out.time"
  echo "$t_wall;$t_rss;$(awk -v u="$t_user" -v s="$t_sys" 'BEGIN { printf "%.1f", u + s }');$(grep -o 'apply: made.*' "$out" | tail -1)"
}

bytes() { # "sent 12.3 MiB from this machine" → MiB
  local text=$1 what=$2
  echo "$text" | grep -oE "[0-9.]+ (B|KiB|MiB|GiB) $what" | awk '{v=$1; u=$2; f=(u=="B")?1/1048576:(u=="KiB")?1/1024:(u=="GiB")?1024:1; printf "%.1f", v*f}'
}

rows=()
for n in $sizes; do
  lab="s$n"
  k8s_lab "$lab" --hosts "$n"
  # One apply first, so whatever a first apply does once per host (packages) is done before either measured run.
  wipe "$lab" "$n"
  apply "$inventory" >/dev/null
  for spec in "${bins[@]}"; do
  build=${spec%%=*} run_bin=${spec#*=}
  for mode in $modes; do
    run_inventory=$lab_dir/inventory-$mode.yaml
    cp "$inventory" "$run_inventory"
    if [ "$mode" = direct ]; then sed -i "s|^    directory: $artifacts\$|    directory: $artifacts\n    peerTransfer: false|" "$run_inventory"; fi
    wipe "$lab" "$n"
    IFS=';' read -r wall rss cpu summary <<<"$(apply "$run_inventory" "$run_bin")"
    cp "$out" "${LOGDIR:-/tmp}/capstan-scale-$n-$build-$mode.log"
    # Three no-op re-applies: the median, the range and the largest peak RSS.
    noops=(); noop_rss=0
    for _ in 1 2 3; do
      IFS=';' read -r one one_rss _ noop_summary <<<"$(apply "$run_inventory" "$run_bin")"
      echo "$noop_summary" | grep -q "made 0 change(s)" || { echo "N=$n $mode: the re-apply was not a no-op: $noop_summary" >&2; exit 1; }
      noops+=("$one"); [ "$one_rss" -gt "$noop_rss" ] && noop_rss=$one_rss
    done
    sorted=$(printf '%s\n' "${noops[@]}" | sort -n)
    noop="$(echo "$sorted" | sed -n 2p) ($(echo "$sorted" | head -1)–$(echo "$sorted" | tail -1))"
    sent=$(bytes "$summary" "from this machine")
    peers=$(bytes "$summary" "from peers" || true); peers=${peers:-0}
    fallbacks=$(echo "$summary" | grep -oE "[0-9]+ peer fetch\(es\) fell back" | cut -d' ' -f1 || true); fallbacks=${fallbacks:-0}
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "N=$n $build $mode: bare → applied ${wall}s (capstan CPU ${cpu} s, peak RSS $((rss / 1024)) MiB), sent ${sent} MiB, peers ${peers} MiB, fallbacks $fallbacks; no-op ${noop} s (RSS $((noop_rss / 1024)) MiB); load $load"
    rows+=("| $n | $build | $mode | $wall | $cpu | $sent | $peers | $fallbacks | $((rss / 1024)) | $noop | $((noop_rss / 1024)) | $load |")
  done
  done
  [ -n "${KEEP:-}" ] || "$bin" lab down --name "$lab" >/dev/null 2>&1 || true
done

{
  echo "# apply at fleet size: peer transfer against this machine sending every file"
  echo
  echo "Produced by \`bench/scale/run.sh \"$sizes\"\` on $(date -u +%Y-%m-%d), $(nproc) cores, builds: $(for spec in "${bins[@]}"; do printf '%s ' "${spec%%=*}"; done| sed 's/ $//'); modes: $modes."
  echo "Lab: N systemd-nspawn hosts on one bridge (h1-h3 control plane + etcd, the rest workers), containerd/runc/CNI plugins"
  echo "from Debian, Kubernetes components as Capstan's stand-ins. One apply runs first on each lab (not measured); each row"
  echo "then wipes the hosts (every unit and file apply placed) and the state directory and waits ${SETTLE:-10} s for the hosts to settle;"
  echo "the artifact cache on this machine stays warm. \"sent\" is what this machine uploaded over SSH as files (binaries and"
  echo "image archives; configuration files travel inside commands and are not counted), \"peers\" what hosts fetched from"
  echo "each other; both from apply's summary. \"capstan CPU\" is the user + system time of the capstan process and its"
  echo "children on this machine (ssh clients with the OpenSSH transport), from GNU time."
  echo
  echo "| N | build | mode | bare → applied (s) | capstan CPU (s) | sent from this machine (MiB) | fetched from peers (MiB) | peer fallbacks | peak RSS (MiB) | no-op re-apply, median of 3 (min–max) (s) | no-op peak RSS (MiB) | 1-min load after |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
} > "$results"
cat "$results"
