#!/usr/bin/env bash
# Benchmark (not a test): `capstan apply` of the lab inventory from bare hosts to every unit active
# (PKI, etcd, containerd, runc, CNI plugins, stand-in Kubernetes components), then the no-op re-apply.
# Targets: under 60 s and under 3 s. Needs root and a built capstan (release build recommended:
# `swift build -c release --product capstan`). Writes bench/apply/results.md.
#
# usage: bench/apply/run.sh [RUNS]   (default 3; CAPSTAN=path/to/capstan overrides the binary;
#        CAPSTAN_LAB names the lab, default: default, so the benchmark can run beside other labs)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
bin=${CAPSTAN:-$(swift build -c release --show-bin-path)/capstan}
[ -x "$bin" ] || { echo "no capstan at $bin (swift build -c release --product capstan)" >&2; exit 1; }
lab=${CAPSTAN_LAB:-default}

. bench/lib/k8s-lab.sh
k8s_lab "$lab"

units="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy containerd etcd"
unit_files=$(for u in $units; do printf '/etc/systemd/system/%s.service ' "$u"; done)
wipe() {
  for h in h1 h2 h3; do
    # One string: ssh hands it to the host's shell as it is.
    "$bin" lab ssh --name "$lab" "$h" "systemctl disable --now $units 2>/dev/null; rm -rf /var/lib/etcd /etc/kubernetes /etc/capstan /etc/containerd /opt/cni /etc/crictl.yaml /var/lib/kubelet /var/lib/kube-proxy /var/lib/containerd /run/containerd /etc/modules-load.d/k8s.conf /etc/sysctl.d/k8s.conf /usr/local/bin/etcd* /usr/local/bin/containerd* /usr/local/bin/ctr /usr/local/bin/kube* /usr/local/sbin/runc /var/lib/capstan/checksums $unit_files; userdel etcd 2>/dev/null; systemctl daemon-reload; systemctl reset-failed 2>/dev/null; true" >/dev/null 2>&1
  done
  rm -rf "$lab_dir/.capstan/lab"
}
out=$(mktemp)
trap 'rm -f "$out" "$out.t"' EXIT
# Wall time of one command; its output is kept in $out for the checks after it.
seconds() { local s; s=$(date +%s.%N); "$@" >"$out" 2>&1 || { echo "FAILED: $*" >&2; cat "$out" >&2; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }
noop_check() { grep -q "made 0 change(s)" "$out" || { echo "run $1: the re-apply was not a no-op:" >&2; cat "$out" >&2; exit 1; }; }

results=()
for i in $(seq 1 "$runs"); do
  wipe
  # The artifact cache stays warm across runs (as on a second cluster); the PKI is created each time.
  fresh=$(seconds "$bin" apply -i "$inventory")
  active=$(for h in h1 h2 h3; do "$bin" lab ssh --name "$lab" "$h" "systemctl is-active $units" | grep -vc '^active$' || true; done | paste -sd+ | bc)
  [ "$active" = "0" ] || { echo "run $i: $active unit(s) not active after apply" >&2; exit 1; }
  seconds "$bin" apply -i "$inventory" >"$out.t"; noop=$(cat "$out.t"); noop_check "$i"
  seconds "$bin" apply -i "$inventory" >"$out.t"; noop2=$(cat "$out.t"); noop_check "$i"
  load=$(cut -d' ' -f1 /proc/loadavg)
  printf 'run %d: bare → all active %.2f s, no-op re-apply %.2f s and %.2f s (load %s)\n' "$i" "$fresh" "$noop" "$noop2" "$load"
  results+=("| $i | $(printf %.2f "$fresh") | $(printf %.2f "$noop") | $(printf %.2f "$noop2") | $load |")
done

{
  echo "# apply on the lab: bare hosts → all units active, and the no-op re-apply"
  echo
  echo "Produced by \`bench/apply/run.sh $runs\` on $(date -u +%Y-%m-%d), $(nproc) cores, binary \`$(basename "$bin")\` ($(file -b "$bin" | cut -d, -f1))."
  echo "Lab: 3 systemd-nspawn hosts (h1-h3: control-plane + etcd, h3 also worker), stacked etcd $(grep -m1 'version:' "$inventory" | awk '{print $2}'),"
  echo "containerd/runc/CNI plugins from Debian, Kubernetes components as Capstan's stand-ins (Tests/Standins)."
  echo "Each run wipes the hosts and the state directory first; the artifact cache stays warm."
  echo
  echo "| run | bare → all units active (s) | no-op re-apply (s) | second no-op re-apply (s) | 1-min load after |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  echo "Targets: under 60 s and under 3 s."
} > bench/apply/results.md
cat bench/apply/results.md
