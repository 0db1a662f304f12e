#!/usr/bin/env bash
# What a libssh2 client's upload costs by the way it sends: one 100 MiB file to one real sshd on loopback
# through the system's libssh2 (libssh2-paths.py, ctypes), as SFTP WRITE requests (how the libssh2 transport
# sends) and as `cat` on an exec channel, and over SFTP with each cipher and MAC libssh2 offers, the variants
# interleaved, REPEATS runs each; medians of the transfer alone (connection and authentication excluded)
# and of the client's CPU for it. With PERF=1, `perf record` of one default SFTP upload, samples by library.
# Writes bench/transfer/results-libssh2.md. Needs root (sshd, tmpfs), openssh-server, python3, libssh2-1.
# Usage: bench/transfer/libssh2-paths.sh [REPEATS]   (default 9)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
repeats=${1:-9}
mib=${MIB:-100}
work=$(mktemp -d /tmp/capstan-bench-libssh2.XXXXXX)
source "$repo/bench/lib/sshd.sh"

load_before=$(cut -d' ' -f1 /proc/loadavg)
mkdir -p "$work/dest"
mount -t tmpfs -o size=$((2 * mib + 16))m tmpfs "$work/dest"
bench_unmount="$work/dest"
bench_start_sshds 1
payload="$work/payload.bin"
head -c "$((mib * 1048576))" /dev/urandom > "$payload"

variants=("exec" "sftp" "sftp aes256-ctr hmac-sha2-256" "sftp aes128-ctr hmac-sha1" "sftp aes128-ctr hmac-sha2-512")
runs="$work/runs.tsv"
: > "$runs"
for rep in $(seq 1 "$repeats"); do
  for i in "${!variants[@]}"; do
    set -- ${variants[$i]}
    mode=$1; shift
    rm -f "$work/dest/payload.bin"; sync
    out=$(python3 "$here/libssh2-paths.py" "$mode" "${addrs[0]}" "${ports[0]}" "$work/id_ed25519" "$payload" "$work/dest/payload.bin" "$@")
    cmp -s "$payload" "$work/dest/payload.bin" || { echo "variant ${variants[$i]}: the remote file differs" >&2; exit 1; }
    echo "rep=$rep ${variants[$i]}: $out" >&2
    printf '%s\t%s\n' "$i" "$out" >> "$runs"
  done
done

perf_lines=""
if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  rm -f "$work/dest/payload.bin"
  perf record -q -o "$work/perf.data" -- python3 "$here/libssh2-paths.py" sftp "${addrs[0]}" "${ports[0]}" "$work/id_ed25519" "$payload" "$work/dest/payload.bin" >/dev/null 2>&1
  perf_lines=$(perf report -i "$work/perf.data" --no-children --sort dso 2>/dev/null | grep -v '^#' | grep '%' | head -8)
fi

python3 - "$runs" "$here/results-libssh2.md" "$repeats" "$mib" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" "$perf_lines" "${variants[@]}" <<'PY'
import datetime, os, statistics, subprocess, sys
runs, out, repeats, mib, load_before, load_after, perf = sys.argv[1:8]
variants = sys.argv[8:]
rows = {}
for line in open(runs):
    i, rest = line.rstrip("\n").split("\t")
    mode, seconds, user, system, cipher, mac = rest.split()
    rows.setdefault(int(i), []).append((float(seconds), float(user), float(system), cipher, mac))
libssh2 = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libssh2-1"], capture_output=True, text=True).stdout.strip() or "?"
ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
with open(out, "w") as f:
    f.write("# libssh2 upload paths\n\n")
    f.write(f"Produced by `bench/transfer/libssh2-paths.sh {repeats}` on {datetime.date.today()}: one {mib} MiB file of random bytes to one sshd "
            "on loopback (target on a tmpfs) through this machine's libssh2 from Python's ctypes, blocking mode. `sftp`: "
            "SFTP WRITE requests, 1 MiB per `libssh2_sftp_write` call, as Capstan's libssh2 transport sends; `exec`: `cat` "
            "on an exec channel, 256 KiB per `libssh2_channel_write` call, no SFTP server. The variants ran interleaved, "
            f"{repeats} runs each. Seconds: the transfer alone, after authentication, until the host has the whole file "
            "(the SFTP close or cat's exit status); user and system: the client process's CPU over the same span. "
            "Every run's remote file was compared with the local one.\n\n")
    f.write(f"Machine: {os.cpu_count()} cores ({cpu}) shared by client and server, 1-minute load {load_before} before and {load_after} after. "
            f"libssh2 {libssh2}, {ssh}.\n\n")
    f.write("| variant | cipher | MAC | seconds, median (min–max) | user s, median | system s, median |\n|---|---|---|---:|---:|---:|\n")
    for i, name in enumerate(variants):
        r = rows[i]
        s = [x[0] for x in r]
        f.write(f"| {name.split()[0]} | {r[0][3]} | {r[0][4]} | {statistics.median(s):.3f} ({min(s):.3f}–{max(s):.3f}) | "
                f"{statistics.median(x[1] for x in r):.2f} | {statistics.median(x[2] for x in r):.2f} |\n")
    if perf:
        f.write("\n`perf record` of one default SFTP upload (the whole process, Python's start and file read included), samples by library:\n\n```\n")
        f.write(perf + "\n```\n")
PY
echo "wrote $here/results-libssh2.md" >&2
