#!/usr/bin/env python3
"""Runs a command, prints `wall_seconds cpu_seconds exit_status server_cpu_seconds`.

Client CPU: what the command and everything it started used, from a cpuacct cgroup of its own that the
command enters before it runs. That counts processes that leave the command's process tree too, such as an
OpenSSH ControlMaster started with `ssh -f`, which user+system of waited-for children (getrusage) misses.
Without a cpuacct hierarchy (/sys/fs/cgroup/cpuacct) it falls back to getrusage of the waited-for children.
Server CPU: what the cpuacct cgroup named by MEASURE_SERVER_CGROUP, which holds the sshd's, used meanwhile, or -1."""
import os, resource, subprocess, sys, time

CPUACCT = "/sys/fs/cgroup/cpuacct"

def usage_ns(path):
    try:
        return int(open(os.path.join(path, "cpuacct.usage")).read()) if path else None
    except OSError:
        return None

client = None
if os.path.isdir(CPUACCT):
    client = os.path.join(CPUACCT, f"capstan-bench-client-{os.getpid()}")
    try:
        os.mkdir(client)
    except OSError:
        client = None

def enter_client_cgroup():
    if client:
        with open(os.path.join(client, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))

server_path = os.environ.get("MEASURE_SERVER_CGROUP")
server_before = usage_ns(server_path)
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL,
                         stderr=open(os.environ.get("MEASURE_STDERR", "/dev/null"), "ab"),
                         preexec_fn=enter_client_cgroup)
wall = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
server_after = usage_ns(server_path)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
if client:
    # A process that outlived the command (a master told to exit that has not yet) is waited for briefly,
    # then moved out so the cgroup can be removed; its CPU so far is counted.
    for _ in range(50):
        procs = open(os.path.join(client, "cgroup.procs")).read().split()
        if not procs:
            break
        time.sleep(0.02)
    measured = usage_ns(client)
    for pid in open(os.path.join(client, "cgroup.procs")).read().split():
        try:
            with open(os.path.join(CPUACCT, "cgroup.procs"), "w") as f:
                f.write(pid)
        except OSError:
            pass
    try:
        os.rmdir(client)
    except OSError:
        pass
    if measured is not None:
        cpu = measured / 1e9
server = (server_after - server_before) / 1e9 if server_before is not None and server_after is not None else -1
print(f"{wall:.3f} {cpu:.3f} {status} {server:.3f}")
