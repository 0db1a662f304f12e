#!/usr/bin/env bash
# Benchmark (not a test): Capstan's native pod network on a 3-host lab (stand-in Kubernetes binaries, real
# containerd, real CNI plugins and kernel networking).
#  1. From the start of `capstan apply` on bare hosts to the first ping from a pod on h1 to a pod on h3
#     (pods put on the network with the conflist Capstan wrote, by cni-add.py).
#  2. The extra cost of the pod network in a no-op re-apply: the no-op with its phases minus the no-op
#     with `--skip-phase pod-subnets --skip-phase pod-network`, per host (target: under 0.2 s per host).
# Needs root and a built capstan. Writes bench/network/results.md.
#
# usage: bench/network/run.sh [RUNS]   (default 3; CAPSTAN=path/to/capstan overrides the binary;
#        CAPSTAN_LAB names the lab, default: netbench)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
bin=${CAPSTAN:-$(swift build -c release --show-bin-path)/capstan}
[ -x "$bin" ] || { echo "no capstan at $bin (swift build -c release --product capstan)" >&2; exit 1; }
lab=${CAPSTAN_LAB:-netbench}

. bench/lib/k8s-lab.sh
k8s_lab "$lab"

units="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy containerd etcd capstan-pod-network"
unit_files=$(for u in $units; do printf '/etc/systemd/system/%s.service ' "$u"; done)
on() { local h=$1; shift; "$bin" lab ssh --name "$lab" "$h" "$@"; }
wipe() {
  for h in h1 h2 h3; do
    on "$h" "systemctl disable --now $units 2>/dev/null; rm -rf /var/lib/etcd /etc/kubernetes /etc/containerd /opt/cni /etc/cni /var/lib/cni /etc/capstan /usr/local/lib/capstan /etc/crictl.yaml /var/lib/kubelet /var/lib/kube-proxy /var/lib/containerd /run/containerd /etc/modules-load.d/k8s.conf /etc/sysctl.d/k8s.conf /usr/local/bin/etcd* /usr/local/bin/containerd* /usr/local/bin/ctr /usr/local/bin/kube* /usr/local/sbin/runc /var/lib/capstan/checksums $unit_files; userdel etcd 2>/dev/null; ip route flush proto 211; iptables -w -t nat -F POSTROUTING; ip link del cni0 2>/dev/null; ip -all netns delete; systemctl daemon-reload; systemctl reset-failed 2>/dev/null; true" >/dev/null 2>&1
  done
  rm -rf "$lab_dir/.capstan/lab"
}
now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
noop() {
  local s out
  s=$(now)
  out=$("$bin" apply -i "$inventory" "$@" 2>&1) || { echo "apply failed: $out" >&2; exit 1; }
  grep -q "made 0 change(s)" <<<"$out" || { echo "the re-apply was not a no-op: $out" >&2; exit 1; }
  echo "$(now) - $s" | bc
}

results=()
for i in $(seq 1 "$runs"); do
  wipe
  start=$(now)
  "$bin" apply -i "$inventory" >/dev/null 2>&1 || { echo "run $i: apply failed" >&2; "$bin" apply -i "$inventory"; exit 1; }
  applied=$(echo "$(now) - $start" | bc)
  a=$(on h1 python3 - pod-a < bench/network/cni-add.py)
  b=$(on h3 python3 - pod-b < bench/network/cni-add.py)
  tries=0
  until on h1 ip netns exec pod-a ping -c 1 -W 1 "$b" >/dev/null 2>&1; do
    tries=$((tries + 1)); [ "$tries" -lt 30 ] || { echo "run $i: pod $a on h1 never reached pod $b on h3" >&2; exit 1; }
  done
  reach=$(echo "$(now) - $start" | bc)
  with=(); without=(); alone=()
  for _ in 1 2 3 4 5; do
    with+=("$(noop)")
    without+=("$(noop --skip-phase pod-subnets --skip-phase pod-network)")
    alone+=("$(noop --only network)")
  done
  w=$(printf '%s\n' "${with[@]}" | median); wo=$(printf '%s\n' "${without[@]}" | median)
  only=$(printf '%s\n' "${alone[@]}" | median)
  per_host=$(echo "($w - $wo) / 3" | bc -l)
  load=$(cut -d' ' -f1 /proc/loadavg)
  printf 'run %d: apply %.2f s, apply start → pod h1 pings pod h3 %.2f s; no-op %.2f s, without the pod network %.2f s: %.3f s per host; apply --only network %.2f s (load %s)\n' \
    "$i" "$applied" "$reach" "$w" "$wo" "$per_host" "$only" "$load"
  results+=("| $i | $(printf %.2f "$applied") | $(printf %.2f "$reach") | $(printf %.2f "$w") | $(printf %.2f "$wo") | $(printf %.3f "$per_host") | $(printf %.2f "$only") | $load |")
done

{
  echo "# Pod network on the lab: apply → cross-host pod reachability, and its cost in a no-op re-apply"
  echo
  echo "Produced by \`bench/network/run.sh $runs\` on $(date -u +%Y-%m-%d), $(nproc) cores, binary \`${bin#"$PWD"/}\` ($(file -b "$bin" | cut -d, -f1))."
  echo "Lab: 3 systemd-nspawn hosts (h1-h3: control-plane + etcd, h3 also worker, so all three are nodes with a pod subnet),"
  echo "containerd/runc/CNI plugins from Debian, Kubernetes components as Capstan's stand-ins (Tests/Standins)."
  echo "Each run wipes the hosts and the state directory first; the artifact cache stays warm. Reachability: pods are"
  echo "network namespaces put on the network by the real CNI plugins with the conflist Capstan wrote (cni-add.py),"
  echo "then a ping from h1's pod to h3's pod is retried until it answers. No-op figures are medians of 5 each, taken"
  echo "interleaved; \`apply --only network\` runs just the pod network phases (all hosts at once) and includes starting"
  echo "capstan, loading the inventory and opening the SSH connections."
  echo
  echo "| run | apply from bare hosts (s) | apply start → first pod-to-pod ping h1→h3 (s) | no-op re-apply (s) | no-op without the pod network phases (s) | pod network per host (s) | no-op \`apply --only network\` (s) | 1-min load after |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  echo "Target: the pod network adds under 0.2 s per host to a no-op re-apply."
} > bench/network/results.md
cat bench/network/results.md
