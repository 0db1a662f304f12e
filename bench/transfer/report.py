#!/usr/bin/env python3
"""Writes bench/transfer/results.md from run.sh's measurements (median run by wall time per N and tool).
A `## Notes` section already in the results file is kept, so the explanation of a change survives a re-run."""
import datetime, os, subprocess, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from results import read_runs, medians, version, failure_lines, load_after

path, out, repeats, mib, build, load_before = sys.argv[1:7]
tools = sys.argv[7:]
repeats, mib = int(repeats), int(mib)
rows = read_runs(path)
libssh2 = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "libssh2-1"], capture_output=True, text=True).stdout.strip() or "unknown"
lines = ["# File transfer benchmark", "",
 f"One {mib} MiB file of random bytes copied to N OpenSSH servers on loopback (each its own sshd, ed25519 host key and target directory on one tmpfs; client key ed25519; host keys checked against a known_hosts file), every tool copying to all N at once, all connections new. `capstan copy` writes a temporary file beside the target, checks its SHA-256 on the host against the local file's and only then renames it over the target; `scp` and `sftp -b` write the target in place and check nothing. Ciphers: `scp` and `sftp -b` use OpenSSH's default order (chacha20-poly1305 first); `capstan copy (openssh)` asks for AES-GCM first when the machine's CPU has AES instructions and the ssh configuration names no ciphers of its own; `scp -c aes128-gcm` is scp with that cipher; libssh2 1.10 has no AES-GCM and uses aes128-ctr with hmac-sha2-256. After every run the script checks each host's file size and compares the bytes of the first and last host's copy. Median of {repeats} runs by wall time; MiB/s is N × {mib} MiB / wall time; client CPU is what the tool and every process it started used, from a cpuacct cgroup of their own (so an ssh ControlMaster that left the process tree counts); server CPU is what the N sshd's (and the sftp-servers and commands they fork) used, from their cpuacct cgroup.",
 "",
 f"Machine: {os.cpu_count()} cores shared by clients and servers, 1-minute load average {load_before} before the run and {load_after()} after it (the benchmark's own processes count in it). Date: {datetime.date.today()}. Tools: capstan ({build} build), libssh2 {libssh2}, {version(['ssh', '-V'])}, scp and sftp of the same OpenSSH (scp uses the SFTP protocol).",
 "", "| N | tool | wall s | MiB/s | client CPU s | server CPU s | failed runs |", "|---:|---|---:|---:|---:|---:|---:|"]
for n, name, (wall, cpu, _, server), failed, count in medians(rows, tools):
    server_text = f"{server:.2f}" if server >= 0 else "n/a"
    lines.append(f"| {n} | {name} | {wall:.2f} | {n * mib / wall:.0f} | {cpu:.2f} | {server_text} | {failed}/{count} |")
lines += failure_lines(path)
notes = []
if os.path.exists(out):
    old = open(out).read().splitlines()
    if "## Notes" in old:
        notes = old[old.index("## Notes"):]
        while notes and notes[-1].startswith("Reproduce:") or notes and notes[-1] == "":
            notes.pop()
lines += [""] + (notes + [""] if notes else [])
lines += ["Reproduce: `bench/transfer/run.sh [REPEATS]` as root (needs openssh-server; builds capstan, release unless BUILD=debug; CAPSTAN_COMPARE=\"label=binary …\" adds other builds' rows; SIZES and MIB change N and the file size)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
