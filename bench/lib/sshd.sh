# Shell helpers shared by the benchmarks that talk to real sshd's on loopback (bench/ssh, bench/transfer).
# Source it after setting `work` (a temporary directory the caller removes); it defines `pids` (the sshd's),
# `cgroup` (their cpuacct cgroup, or empty), `ports`, `addrs`, `sshopts` and the functions below, and installs
# an EXIT trap that stops the sshd's and removes $work.

pids=()
ports=(); addrs=()
# The sshd's go into their own cpuacct cgroup so the server side's CPU is measured too (cgroup v1 or v2).
cgroup=""
if [ -d /sys/fs/cgroup/cpuacct ]; then cgroup=/sys/fs/cgroup/cpuacct/capstan-bench-sshd-$$; mkdir -p "$cgroup" || cgroup=""; fi
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  [ -n "$cgroup" ] && rmdir "$cgroup" 2>/dev/null || true
  [ -n "${bench_unmount:-}" ] && umount "$bench_unmount" 2>/dev/null || true
  rm -rf "$work"
}
trap bench_cleanup EXIT

# bench_build_capstan [debug|release]: builds the capstan product and sets `capstan` to the binary;
# CAPSTAN_BIN, when set, names a binary to use instead (nothing is built).
bench_build_capstan() {
  local mode=${1:-release}
  if [ -n "${CAPSTAN_BIN:-}" ]; then capstan=$CAPSTAN_BIN; return; fi
  echo "building capstan ($mode)…" >&2
  (cd "$repo" && swift build -c "$mode" --product capstan > "$work/build.log" 2>&1) || { tail -20 "$work/build.log" >&2; exit 1; }
  capstan="$(cd "$repo" && swift build -c "$mode" --show-bin-path)/capstan"
}

# bench_start_sshds COUNT [WRAP]: a client key, COUNT sshd's (each its own loopback address, port and ed25519
# host key, with the SFTP subsystem) and a known_hosts file that trusts exactly them. `SetEnv SHLVL=1` keeps
# bash from sourcing the machine's ~/.bashrc in the sessions (it does that only for a top-level shell), so
# whatever that file runs, and how long it takes, stays out of the measurements. WRAP, when given, is a
# command that gets the host number and the sshd command line and must exec it (e.g. in its own mount namespace).
bench_start_sshds() {
  local count=$1 wrap=${2:-} i addr d port
  mkdir -p /run/sshd
  ssh-keygen -q -t ed25519 -N '' -C bench -f "$work/id_ed25519"
  : > "$work/known_hosts"
  for i in $(seq 1 "$count"); do
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
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel ERROR
SetEnv SHLVL=1
CFG
    if [ -n "$wrap" ]; then
      $wrap "$i" /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$d/sshd.log" &
    else
      /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$d/sshd.log" &
    fi
    pids+=($!)
    [ -n "$cgroup" ] && echo $! > "$cgroup/cgroup.procs"
    ports+=("$port"); addrs+=("$addr")
    echo "[$addr]:$port $(cut -d' ' -f1,2 "$d/host_key.pub")" >> "$work/known_hosts"
  done
  for i in "${!ports[@]}"; do
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/"${addrs[$i]}"/"${ports[$i]}") 2>/dev/null && break; sleep 0.05; done
  done
}

sshopts=(-i "$work/id_ed25519" -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes
         -o UserKnownHostsFile="$work/known_hosts" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes
         -o ControlMaster=no -o ControlPath=none)

# bench_write_inventories N: $work/inv-N-libssh2.yaml and $work/inv-N-openssh.yaml for the first N sshd's
# (h1 control-plane + etcd, the others workers) and $work/targets-N (`address port` per line).
bench_write_inventories() {
  local n=$1 i role
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
  : > "$work/targets-$n"
  for i in $(seq 1 "$n"); do echo "${addrs[$((i-1))]} ${ports[$((i-1))]}" >> "$work/targets-$n"; done
}

# bench_measure N TOOL REP NAME COMMAND…: runs COMMAND under bench/ssh/measure.py with the sshd's cgroup as the
# server side, reports it on stderr, appends `N TOOL REP wall cpu status server` to $work/results.tsv and notes a
# failure in $work/failures.txt with the last lines of its stderr. When `bench_check` names a function, it gets N
# after a run that exited 0 and a non-zero return makes the run a failure (status 99).
bench_measure() {
  local n=$1 t=$2 rep=$3 name=$4 out status
  shift 4
  : > "$work/err.log"
  out=$(MEASURE_SERVER_CGROUP="$cgroup" MEASURE_STDERR="$work/err.log" python3 "$repo/bench/ssh/measure.py" "$@")
  status=$(echo "$out" | cut -d' ' -f3)
  if [ "$status" = 0 ] && [ -n "${bench_check:-}" ] && ! "$bench_check" "$n"; then
    status=99; out="$(echo "$out" | cut -d' ' -f1,2) 99 $(echo "$out" | cut -d' ' -f4)"
    echo "the check after the run failed" >> "$work/err.log"
  fi
  echo "N=$n rep=$rep $name: $out" >&2
  if [ "$status" != 0 ]; then
    { echo "N=$n rep=$rep $name failed:"; tail -5 "$work/err.log"; } >> "$work/failures.txt"
  fi
  printf '%s\t%s\t%s\t%s\n' "$n" "$t" "$rep" "$out" >> "$work/results.tsv"
}
