#!/usr/bin/env python3
"""Runs a command, prints `wall_seconds cpu_seconds exit_status` (CPU = user+system of the command and
all the children it waited for: the client side only, the sshd's are not its children)."""
import os, resource, subprocess, sys, time

before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.monotonic()
status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open(os.environ.get("MEASURE_STDERR", "/dev/null"), "ab"))
wall = time.monotonic() - start
after = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(f"{wall:.3f} {cpu:.3f} {status}")
