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
pids=()
# The sshd's go into their own cpuacct cgroup so the server side's CPU is measured too (cgroup v1 or v2).
cgroup=""
if [ -d /sys/fs/cgroup/cpuacct ]; then cgroup=/sys/fs/cgroup/cpuacct/capstan-bench-sshd-$$; mkdir -p "$cgroup" || cgroup=""; fi
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  [ -n "$cgroup" ] && rmdir "$cgroup" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

load_before=$(cut -d' ' -f1 /proc/loadavg)
echo "building capstan (release)…" >&2
(cd "$repo" && swift build -c release --product capstan > "$work/build.log" 2>&1) || { tail -20 "$work/build.log" >&2; exit 1; }
capstan="$(cd "$repo" && swift build -c release --show-bin-path)/capstan"

if [ ! -x "$cache/ansible-venv/bin/ansible" ]; then
  echo "installing ansible-core into $cache/ansible-venv…" >&2
  mkdir -p "$cache"
  python3 -m venv "$cache/ansible-venv"
  "$cache/ansible-venv/bin/pip" install -q ansible-core
fi
ansible_version=$("$cache/ansible-venv/bin/ansible" --version | head -1)

mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -C bench -f "$work/id_ed25519"
max=0; for n in $sizes; do [ "$n" -gt "$max" ] && max=$n; done
ports=(); addrs=()
: > "$work/known_hosts"
for i in $(seq 1 "$max"); do
  # One loopback address per host: an inventory refuses two hosts with the same address.
  addr="127.0.$((i / 250)).$((i % 250 + 2))"
  d="$work/sshd$i"; mkdir -p "$d"
  ssh-keygen -q -t ed25519 -N '' -C host -f "$d/host_key"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$d/sshd_config" <<CFG
Port $port
ListenAddress $addr
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $work/id_ed25519.pub
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
CFG
  /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$d/sshd.log" &
  pids+=($!)
  [ -n "$cgroup" ] && echo $! > "$cgroup/cgroup.procs"
  ports+=("$port"); addrs+=("$addr")
  echo "[$addr]:$port $(cut -d' ' -f1,2 "$d/host_key.pub")" >> "$work/known_hosts"
done
for i in "${!ports[@]}"; do
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/"${addrs[$i]}"/"${ports[$i]}") 2>/dev/null && break; sleep 0.05; done
done

sshopts=(-i "$work/id_ed25519" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
         -o UserKnownHostsFile="$work/known_hosts" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes
         -o ControlMaster=no -o ControlPath=none)

write_inputs() {  # $1 = N
  local n=$1 i
  {
    printf 'apiVersion: capstan.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: bench\nspec:\n'
    printf '  kubernetesVersion: v1.31.4\n  controlPlane:\n    mode: self-managed\n    endpoint: 127.0.0.1:6443\n'
    printf '  etcd:\n    version: 3.4.23\n'
    printf '  ssh:\n    user: root\n    identityFile: %s\n    agent: false\n    transport: TRANSPORT\n' "$work/id_ed25519"
    printf '    knownHosts:\n      file: %s\n      policy: strict\n  hosts:\n' "$work/known_hosts"
    for i in $(seq 1 "$n"); do
      role=worker; [ "$i" = 1 ] && role="control-plane, etcd"
      printf '    - name: h%s\n      address: %s\n      roles: [%s]\n      ssh:\n        port: %s\n' "$i" "${addrs[$((i-1))]}" "$role" "${ports[$((i-1))]}"
    done
  } > "$work/inv-$n.tmpl"
  sed 's/TRANSPORT/libssh2/' "$work/inv-$n.tmpl" > "$work/inv-$n-libssh2.yaml"
  sed 's/TRANSPORT/openssh/' "$work/inv-$n.tmpl" > "$work/inv-$n-openssh.yaml"
  : > "$work/pssh-$n"; : > "$work/ansible-$n.ini"; : > "$work/targets-$n"
  for i in $(seq 1 "$n"); do
    echo "${addrs[$((i-1))]}:${ports[$((i-1))]} root" >> "$work/pssh-$n"
    echo "h$i ansible_host=${addrs[$((i-1))]} ansible_port=${ports[$((i-1))]} ansible_user=root" >> "$work/ansible-$n.ini"
    echo "${addrs[$((i-1))]} ${ports[$((i-1))]}" >> "$work/targets-$n"
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
      cmd=$(command_for "$t" "$n")
      : > "$work/err.log"
      if [ "$t" = 5 ]; then
        out=$(MEASURE_SERVER_CGROUP="$cgroup" MEASURE_STDERR="$work/err.log" python3 "$here/measure.py" bash -c "$(declare -f ansible_run); work=$work cache=$cache; ansible_run $n")
      else
        out=$(MEASURE_SERVER_CGROUP="$cgroup" MEASURE_STDERR="$work/err.log" python3 "$here/measure.py" sh -c "$cmd")
      fi
      echo "N=$n rep=$rep ${tools[$t]}: $out" >&2
      status=$(echo "$out" | cut -d' ' -f3)
      if [ "$status" != 0 ]; then
        { echo "N=$n rep=$rep ${tools[$t]} failed:"; tail -5 "$work/err.log"; } >> "$work/failures.txt"
      fi
      printf '%s\t%s\t%s\t%s\n' "$n" "$t" "$rep" "$out" >> "$results"
    done
  done
done

python3 - "$results" "$here/results.md" "$repeats" "$ansible_version" "$capstan" "$load_before" <<'PY'
import statistics, sys, subprocess, os, datetime
path, out, repeats, ansible_version, capstan, load_before = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
tools = ["capstan exec (libssh2)", "capstan exec (openssh)", "OpenSSH loop, sequential", "OpenSSH loop, & parallel", "parallel-ssh", "ansible-core ad-hoc"]
rows = {}
for line in open(path):
    n, t, rep, rest = line.rstrip("\n").split("\t")
    wall, cpu, status, server = rest.split()
    rows.setdefault((int(n), int(t)), []).append((float(wall), float(cpu), int(status), float(server)))
def ver(cmd):
    try: return subprocess.run(cmd, capture_output=True, text=True).stderr.strip() or subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except Exception as e: return str(e)
lines = ["# SSH fan-out benchmark", "",
 f"One command (`true`) on N OpenSSH servers on loopback (each its own sshd and ed25519 host key; client key ed25519; host keys checked against a known_hosts file), every tool with parallelism N, all connections new (no reused master). Median of {repeats} runs by wall time; client CPU is user+system of the tool and its child processes; server CPU is what the N sshd's (and the sessions they fork) used during the run, from their cpuacct cgroup. The sshd's share this machine's cores with the clients, so no tool's wall time can go below (client CPU + server CPU) / cores; the last column gives that floor for each run.",
 "",
 f"Machine: {os.cpu_count()} cores, 1-minute load average {load_before} before the run and {open('/proc/loadavg').read().split()[0]} after it (the benchmark's own sshd's and clients count in it). Date: {datetime.date.today()}. Tools: capstan release build, {ver(['ssh','-V'])}, parallel-ssh {ver(['parallel-ssh','--version'])}, {ansible_version}.",
 "", "| N | tool | wall s | client CPU s | client CPU ms per connection | server CPU s | failed runs | CPU floor s |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
for n in sorted({k[0] for k in rows}):
    for t, name in enumerate(tools):
        runs = rows.get((n, t), [])
        if not runs: continue
        ordered = sorted(runs, key=lambda r: r[0])
        wall, cpu, _, server = ordered[len(ordered)//2]
        failed = sum(1 for r in runs if r[2] != 0)
        server_text, floor = (f"{server:.2f}", f"{(cpu + server) / os.cpu_count():.2f}") if server >= 0 else ("n/a", "n/a")
        lines.append(f"| {n} | {name} | {wall:.2f} | {cpu:.2f} | {1000*cpu/n:.1f} | {server_text} | {failed}/{len(runs)} | {floor} |")
failures = os.path.join(os.path.dirname(path), "failures.txt")
if os.path.exists(failures):
    lines += ["", "Failed runs (last lines of their stderr):", "", "```"] + open(failures).read().rstrip().splitlines() + ["```"]
lines += ["", "Reproduce: `bench/ssh/run.sh [REPEATS]` as root (needs openssh-server, pssh, python3-venv; builds capstan in release mode; installs ansible-core into /var/cache/capstan/bench/ansible-venv)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
