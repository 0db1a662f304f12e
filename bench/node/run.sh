#!/usr/bin/env bash
# Benchmark (not a test): adding one worker to a running 4-host cluster, two ways, on the same lab:
#  a. `capstan node add h5` (h5 listed in the inventory);
#  b. `capstan apply` after h5 was added to the inventory.
# Per way: wall time, and the SSH sessions (commands and SFTP transfers) each host served, counted from
# the hosts' sshd logs (LogLevel VERBOSE logs one "Starting session" per channel). Between the two,
# `capstan reset --host h5` returns h5 to bare. Target: the other hosts see <= 2 commands each under
# `node add` and nothing restarts there.
# Needs root and a built capstan. Writes bench/node/results.md.
#
# usage: bench/node/run.sh [RUNS]   (default 3; CAPSTAN=path/to/capstan overrides the binary;
#        CAPSTAN_LAB names the lab, default: nodebench)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
bin=${CAPSTAN:-$(swift build -c release --show-bin-path)/capstan}
[ -x "$bin" ] || { echo "no capstan at $bin (swift build -c release --product capstan)" >&2; exit 1; }
lab=${CAPSTAN_LAB:-nodebench}

. bench/lib/k8s-lab.sh
k8s_lab "$lab" --hosts 5
# The same inventory without h5 (its entry is the last one in the lab's inventory).
without=$lab_dir/inventory-k8s-without-h5.yaml
awk '/^    - name: h5$/ {skip=1} skip && /^    - name: / && !/h5$/ {skip=0} !skip' "$inventory" > "$without"
grep -q 'name: h5' "$without" && { echo "could not drop h5 from $inventory" >&2; exit 1; }

on() { local h=$1; shift; "$bin" lab ssh --name "$lab" "$h" "$@"; }
hosts="h1 h2 h3 h4 h5"
for h in $hosts; do
  on "$h" "printf 'LogLevel VERBOSE\n' > /etc/ssh/sshd_config.d/capstan-bench.conf && systemctl reload ssh" >/dev/null
done
# The command that counts is itself one of the sessions it sees: it is not counted.
sessions() { on "$1" "n=\$(journalctl -u ssh --since @$2 -o cat | grep -c 'Starting session'); echo \$((n - 1))"; }
stamps() { for h in h1 h2 h3 h4; do on "$h" "systemctl show kubelet kube-proxy kube-apiserver etcd containerd -p ActiveEnterTimestampMonotonic"; done; }
now() { date +%s.%N; }

"$bin" reset -i "$inventory" --all --yes-destroy-cluster lab >/dev/null 2>&1 || true
rm -rf "$lab_dir/.capstan/lab"
"$bin" apply -i "$without" >/dev/null 2>&1 || { echo "apply of h1-h4 failed" >&2; "$bin" apply -i "$without"; exit 1; }

rows=()
for i in $(seq 1 "$runs"); do
  for way in node-add apply; do
    before=$(stamps)
    sleep 1
    since=$(date +%s)
    start=$(now)
    if [ "$way" = node-add ]; then
      "$bin" node add -i "$inventory" h5 >/dev/null 2>&1 || { echo "run $i: node add failed" >&2; exit 1; }
    else
      "$bin" apply -i "$inventory" >/dev/null 2>&1 || { echo "run $i: apply failed" >&2; exit 1; }
    fi
    took=$(echo "$(now) - $start" | bc)
    counts=""
    for h in $hosts; do counts="$counts $(sessions "$h" "$since")"; done
    restarted=$([ "$(stamps)" = "$before" ] && echo no || echo yes)
    load=$(cut -d' ' -f1 /proc/loadavg)
    printf 'run %d %s: %.2f s; SSH sessions h1..h5:%s; restarts on h1-h4: %s (load %s)\n' "$i" "$way" "$took" "$counts" "$restarted" "$load"
    rows+=("| $i | \`$way\` | $(printf %.2f "$took") |$(for c in $counts; do printf ' %s |' "$c"; done) $restarted | $load |")
    "$bin" reset -i "$inventory" --host h5 --yes >/dev/null 2>&1 || { echo "run $i: reset --host h5 failed" >&2; exit 1; }
  done
done
for h in $hosts; do on "$h" "rm -f /etc/ssh/sshd_config.d/capstan-bench.conf && systemctl reload ssh" >/dev/null; done

{
  echo "# Adding a worker: \`node add\` vs \`apply\` with the host added to the inventory"
  echo
  echo "Produced by \`bench/node/run.sh $runs\` on $(date -u +%Y-%m-%d), $(nproc) cores, binary \`${bin#"$PWD"/}\` ($(file -b "$bin" | cut -d, -f1))."
  echo "Lab: 5 systemd-nspawn hosts (h1-h3 control-plane + etcd, h4 and h5 workers), real etcd and containerd, Kubernetes"
  echo "components as Capstan's stand-ins. h1-h4 run the cluster; each row adds h5 from bare (it is reset between rows, so"
  echo "both ways upload its artifacts). SSH sessions: channels each host's sshd started during the command (every remote"
  echo "command and every SFTP transfer is one), from its VERBOSE log, less the one that reads the log (rows of earlier"
  echo "results counted it too). Restarts: whether any of kubelet, kube-proxy,"
  echo "kube-apiserver, etcd, containerd on h1-h4 entered the active state again."
  echo
  echo "| run | way | wall time (s) | h1 | h2 | h3 | h4 | h5 | restarts on h1-h4 | 1-min load after |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Target: under \`node add\`, the other hosts see <= 2 commands each and no restart."
} > bench/node/results.md
cat bench/node/results.md
