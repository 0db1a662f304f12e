#!/usr/bin/env python3
"""Runs a command, prints `wall_seconds cpu_seconds exit_status server_cpu_seconds` (CPU = user+system of the
command and all the children it waited for: the client side only, the sshd's are not its children; server CPU =
what the cpuacct cgroup named by MEASURE_SERVER_CGROUP, which holds the sshd's, used meanwhile, or -1)."""
import os, resource, subprocess, sys, time

def server_ns():
    path = os.environ.get("MEASURE_SERVER_CGROUP")
    try:
        return int(open(os.path.join(path, "cpuacct.usage")).read()) if path else None
    except OSError:
        return None

server_before = server_ns()
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(os.environ.get("MEASURE_STDERR", "/dev/null"), "ab"))
wall = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
server_after = server_ns()
server = (server_after - server_before) / 1e9 if server_before is not None and server_after is not None else -1
print(f"{wall:.3f} {cpu:.3f} {status} {server:.3f}")
