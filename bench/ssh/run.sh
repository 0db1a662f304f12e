#!/usr/bin/env bash
# Runs one command (`true`) on N real sshd's on loopback (N = 10 30 50) with Capstan (both transports),
# a plain OpenSSH client loop (sequential and &-parallel), parallel-ssh and ansible-core ad-hoc,
# side by side in one run, and writes bench/ssh/results.md. Needs root (sshd), openssh-server, pssh.
# ansible-core goes into a venv under /var/cache/capstan/bench (outside the repository).
# Usage: bench/ssh/run.sh [REPEATS]   (default 3; the median run is reported)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
repeats=${1:-3}
sizes=${SIZES:-"10 30 50"}
cache=/var/cache/capstan/bench
work=$(mktemp -d /tmp/capstan-bench-ssh.XXXXXX)
source "$repo/bench/lib/sshd.sh"

load_before=$(cut -d' ' -f1 /proc/loadavg)
bench_build_capstan release

if [ ! -x "$cache/ansible-venv/bin/ansible" ]; then
  echo "installing ansible-core into $cache/ansible-venv…" >&2
  mkdir -p "$cache"
  python3 -m venv "$cache/ansible-venv"
  "$cache/ansible-venv/bin/pip" install -q ansible-core
fi
ansible_version=$("$cache/ansible-venv/bin/ansible" --version | head -1)

max=0; for n in $sizes; do [ "$n" -gt "$max" ] && max=$n; done
bench_start_sshds "$max"

write_inputs() {  # $1 = N
  local n=$1 i
  bench_write_inventories "$n"
  : > "$work/pssh-$n"; : > "$work/ansible-$n.ini"
  for i in $(seq 1 "$n"); do
    echo "${addrs[$((i-1))]}:${ports[$((i-1))]} root" >> "$work/pssh-$n"
    echo "h$i ansible_host=${addrs[$((i-1))]} ansible_port=${ports[$((i-1))]} ansible_user=root" >> "$work/ansible-$n.ini"
  done
  cat > "$work/loop-seq-$n.sh" <<SH
#!/bin/sh
while read -r a p; do ssh ${sshopts[*]} -n -p \$p root@\$a true || exit 1; done < $work/targets-$n
SH
  cat > "$work/loop-par-$n.sh" <<SH
#!/bin/sh
fail=0
while read -r a p; do ssh ${sshopts[*]} -n -p \$p root@\$a true & done < $work/targets-$n
for j in \$(jobs -p); do wait \$j || fail=1; done
wait || fail=1
exit \$fail
SH
  chmod +x "$work/loop-seq-$n.sh" "$work/loop-par-$n.sh"
}

ansible_run() {  # $1 = N; fresh control dir per run so no master from an earlier run is reused
  local n=$1 cp status
  cp=$(mktemp -d "$work/ansible-cp.XXXXXX")
  set +e
  ANSIBLE_SSH_CONTROL_PATH_DIR="$cp" ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
  ANSIBLE_SSH_ARGS="-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$work/known_hosts -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes" \
  ANSIBLE_PRIVATE_KEY_FILE="$work/id_ed25519" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_HOME="$work/ansible-home" \
    "$cache/ansible-venv/bin/ansible" all -i "$work/ansible-$n.ini" -f "$n" -m command -a true
  status=$?
  set -e
  for s in "$cp"/*; do [ -S "$s" ] && ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1 || true; done
  return $status
}

tools=("capstan exec (libssh2)" "capstan exec (openssh)" "OpenSSH loop, sequential" "OpenSSH loop, & parallel" "parallel-ssh" "ansible-core ad-hoc")
command_for() {  # $1 = tool index, $2 = N
  local n=$2
  case $1 in
    0) echo "$capstan exec -i $work/inv-$n-libssh2.yaml --concurrency $n -- true" ;;
    1) echo "$capstan exec -i $work/inv-$n-openssh.yaml --concurrency $n -- true" ;;
    2) echo "$work/loop-seq-$n.sh" ;;
    3) echo "$work/loop-par-$n.sh" ;;
    4) echo "parallel-ssh -h $work/pssh-$n -p $n -t 120 -x '${sshopts[*]}' true" ;;
    5) echo "ansible_run $n" ;;
  esac
}

export -f ansible_run 2>/dev/null || true
results="$work/results.tsv"
: > "$results"
for n in $sizes; do
  write_inputs "$n"
  for rep in $(seq 1 "$repeats"); do
    for t in "${!tools[@]}"; do
      if [ "$t" = 5 ]; then
        bench_measure "$n" "$t" "$rep" "${tools[$t]}" bash -c "$(declare -f ansible_run); work=$work cache=$cache; ansible_run $n"
      else
        bench_measure "$n" "$t" "$rep" "${tools[$t]}" sh -c "$(command_for "$t" "$n")"
      fi
    done
  done
done

python3 - "$results" "$here/results.md" "$repeats" "$ansible_version" "$capstan" "$load_before" "$repo/bench/lib" <<'PY'
import sys, os, datetime
path, out, repeats, ansible_version, capstan, load_before = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
sys.path.insert(0, sys.argv[7])
from results import read_runs, medians, version as ver, failure_lines, load_after
tools = ["capstan exec (libssh2)", "capstan exec (openssh)", "OpenSSH loop, sequential", "OpenSSH loop, & parallel", "parallel-ssh", "ansible-core ad-hoc"]
rows = read_runs(path)
lines = ["# SSH fan-out benchmark", "",
 f"One command (`true`) on N OpenSSH servers on loopback (each its own sshd and ed25519 host key; client key ed25519; host keys checked against a known_hosts file), every tool with parallelism N, all connections new (no reused master). Median of {repeats} runs by wall time; client CPU is what the tool and every process it started used, from a cpuacct cgroup of their own (so an ssh ControlMaster that left the process tree counts); server CPU is what the N sshd's (and the sessions they fork) used during the run, from their cpuacct cgroup. The sshd's share this machine's cores with the clients, so no tool's wall time can go below (client CPU + server CPU) / cores; the last column gives that floor for each run.",
 "",
 f"Machine: {os.cpu_count()} cores, 1-minute load average {load_before} before the run and {load_after()} after it (the benchmark's own sshd's and clients count in it). Date: {datetime.date.today()}. Tools: capstan release build, {ver(['ssh','-V'])}, parallel-ssh {ver(['parallel-ssh','--version'])}, {ansible_version}.",
 "", "| N | tool | wall s | client CPU s | client CPU ms per connection | server CPU s | failed runs | CPU floor s |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
for n, name, (wall, cpu, _, server), failed, count in medians(rows, tools):
    server_text, floor = (f"{server:.2f}", f"{(cpu + server) / os.cpu_count():.2f}") if server >= 0 else ("n/a", "n/a")
    lines.append(f"| {n} | {name} | {wall:.2f} | {cpu:.2f} | {1000*cpu/n:.1f} | {server_text} | {failed}/{count} | {floor} |")
lines += failure_lines(path)
lines += ["", "Reproduce: `bench/ssh/run.sh [REPEATS]` as root (needs openssh-server, pssh, python3-venv; builds capstan in release mode; installs ansible-core into /var/cache/capstan/bench/ansible-venv)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
