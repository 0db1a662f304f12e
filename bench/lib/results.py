"""Helpers shared by the benchmarks' report writers (bench/ssh, bench/transfer): their runs come from
bench_measure in sshd.sh as `N <tab> tool <tab> rep <tab> wall cpu status server` lines."""
import os, subprocess


def read_runs(path):
    """{(N, tool index): [(wall, client cpu, exit status, server cpu), …]}"""
    runs = {}
    for line in open(path):
        n, t, _, rest = line.rstrip("\n").split("\t")
        wall, cpu, status, server = rest.split()
        runs.setdefault((int(n), int(t)), []).append((float(wall), float(cpu), int(status), float(server)))
    return runs


def median_run(runs):
    """The median run by wall time and how many runs failed."""
    return sorted(runs, key=lambda r: r[0])[len(runs) // 2], sum(1 for r in runs if r[2] != 0)


def version(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stderr.strip() or r.stdout.strip()).splitlines()[0]
    except (OSError, IndexError) as e:
        return str(e)


def failure_lines(results_path):
    """The failed runs' notes (failures.txt beside the runs), as Markdown lines; empty when none failed."""
    failures = os.path.join(os.path.dirname(results_path), "failures.txt")
    if not os.path.exists(failures):
        return []
    return ["", "Failed runs (last lines of their stderr):", "", "```"] + open(failures).read().rstrip().splitlines() + ["```"]


def load_after():
    return open("/proc/loadavg").read().split()[0]


def medians(runs, tools):
    """(N, tool name, median run, failed runs, runs) for every N and tool measured, in table order."""
    for n in sorted({k[0] for k in runs}):
        for t, name in enumerate(tools):
            if runs.get((n, t)):
                median, failed = median_run(runs[(n, t)])
                yield n, name, median, failed, len(runs[(n, t)])
