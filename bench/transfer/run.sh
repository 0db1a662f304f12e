#!/usr/bin/env bash
# Copies one 100 MiB file to N real sshd's on loopback (N = 1 10 40) with `capstan copy` (both transports),
# OpenSSH `scp` and `sftp -b` (one client per host, all started at once), side by side in one run, and writes
# bench/transfer/results.md. Every sshd runs in its own mount namespace where the target directory is its
# own directory on one tmpfs, so the hosts do not share the target file and no disk is involved.
# CAPSTAN_COMPARE="label=binary …" adds rows for other capstan builds (e.g. older commits) in the same run.
# Needs root (sshd, mount namespaces), openssh-server, util-linux (unshare).
# Usage: bench/transfer/run.sh [REPEATS]   (default 3; the median run is reported; BUILD=debug|release, default release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
repeats=${1:-3}
sizes=${SIZES:-"1 10 40"}
mib=${MIB:-100}
work=$(mktemp -d /tmp/capstan-bench-transfer.XXXXXX)
source "$repo/bench/lib/sshd.sh"

load_before=$(cut -d' ' -f1 /proc/loadavg)
bench_build_capstan "${BUILD:-release}"

max=0; for n in $sizes; do [ "$n" -gt "$max" ] && max=$n; done
mkdir -p "$work/dest" "$work/target"
mount -t tmpfs -o size=$(( (max + 2) * mib + 64 ))m tmpfs "$work/dest"
bench_unmount="$work/dest"
in_own_namespace() {  # $1 = host number, then the sshd command line: $work/target is that host's directory
  local i=$1; shift
  mkdir -p "$work/dest/h$i"
  exec unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$work/dest/h$i" "$work/target" "$@"
}
bench_start_sshds "$max" in_own_namespace

payload="$work/payload.bin"
head -c "$((mib * 1048576))" /dev/urandom > "$payload"
target="$work/target/payload.bin"
echo "put $payload $target" > "$work/sftp-batch"

write_loops() {  # $1 = N: scp and sftp, one client per host, all at once
  local n=$1
  bench_write_inventories "$n"
  cat > "$work/scp-$n.sh" <<SH
#!/bin/sh
while read -r a p; do scp -q ${sshopts[*]} -P \$p $payload root@\$a:$target & done < $work/targets-$n
fail=0; for j in \$(jobs -p); do wait \$j || fail=1; done; wait || fail=1; exit \$fail
SH
  cat > "$work/sftp-$n.sh" <<SH
#!/bin/sh
while read -r a p; do sftp -q ${sshopts[*]} -b $work/sftp-batch -P \$p root@\$a >/dev/null & done < $work/targets-$n
fail=0; for j in \$(jobs -p); do wait \$j || fail=1; done; wait || fail=1; exit \$fail
SH
  # scp with the cipher Capstan's OpenSSH transport asks for on a CPU with AES instructions (OpenSSH's own
  # default order starts with chacha20-poly1305): the same cipher on both sides of the comparison.
  sed "s/scp -q /scp -q -c aes128-gcm@openssh.com /" "$work/scp-$n.sh" > "$work/scp-gcm-$n.sh"
  chmod +x "$work/scp-$n.sh" "$work/sftp-$n.sh" "$work/scp-gcm-$n.sh"
}

tools=("capstan copy (libssh2)" "capstan copy (openssh)" "scp" "sftp -b" "scp -c aes128-gcm")
fixed=${#tools[@]}
others=()
for spec in ${CAPSTAN_COMPARE:-}; do
  others+=("${spec#*=}")
  tools+=("capstan copy (libssh2), ${spec%%=*}" "capstan copy (openssh), ${spec%%=*}")
done
command_for() {  # $1 = tool index, $2 = N
  local n=$2
  case $1 in
    0) echo "$capstan copy -i $work/inv-$n-libssh2.yaml --concurrency $n $payload $target" ;;
    1) echo "$capstan copy -i $work/inv-$n-openssh.yaml --concurrency $n $payload $target" ;;
    2) echo "$work/scp-$n.sh" ;;
    3) echo "$work/sftp-$n.sh" ;;
    4) echo "$work/scp-gcm-$n.sh" ;;
    *) local other=${others[$((($1 - fixed) / 2))]} transport=libssh2
       [ $((($1 - fixed) % 2)) = 1 ] && transport=openssh
       echo "$other copy -i $work/inv-$n-$transport.yaml --concurrency $n $payload $target" ;;
  esac
}

# Every host must hold exactly the payload afterwards: sizes on all, bytes compared on the first and last.
check_copies() {  # $1 = N
  local n=$1 i
  for i in $(seq 1 "$n"); do [ "$(stat -c %s "$work/dest/h$i/payload.bin" 2>/dev/null)" = "$((mib * 1048576))" ] || return 1; done
  cmp -s "$payload" "$work/dest/h1/payload.bin" && cmp -s "$payload" "$work/dest/h$n/payload.bin"
}

results="$work/results.tsv"
: > "$results"
bench_check=check_copies
for n in $sizes; do
  write_loops "$n"
  for rep in $(seq 1 "$repeats"); do
    for t in "${!tools[@]}"; do
      rm -rf "$work"/dest/h*/payload.bin "$work"/dest/h*/.payload.bin*
      sync; sleep 1
      bench_measure "$n" "$t" "$rep" "${tools[$t]}" sh -c "$(command_for "$t" "$n")"
    done
  done
done
rm -rf "$work"/dest/h*

label=${BUILD:-release}; [ -n "${CAPSTAN_BIN:-}" ] && label="prebuilt"
python3 "$here/report.py" "$results" "$here/results.md" "$repeats" "$mib" "$label" "$load_before" "${tools[@]}"
