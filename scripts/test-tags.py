#!/usr/bin/env python3
"""The suites' tags, read from the test bundle's own listing (swift-testing's event stream, one JSON record
per line, written by `--list-tests --event-stream-output-path`).

  test-tags.py check LISTING          every suite (and every test outside a suite) carries a known tag
  test-tags.py select LISTING TAG...  one --filter regex per suite carrying one of TAGs, for `swift test`
"""
import json
import re
import sys

KNOWN = {"unit", "sshd", "etcd", "s3", "lab"}


def records(path):
    with open(path) as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                if record.get("kind") == "test":
                    yield record["payload"]


def tags(payload):
    # Tags are listed as ".name"; the field is experimental in the event stream, hence its underscore.
    return {t.lstrip(".") for t in payload.get("_tags", [])}


def units(path):
    """Top-level suites, and tests outside any listed suite, with their tags. A type holding tests without
    a @Suite attribute is not listed as a suite: its tests are checked one by one (they carry no tag
    unless they have their own)."""
    out = []
    listed = set()
    functions = []
    for p in records(path):
        if p["kind"] == "suite" and "/" not in p["id"]:
            listed.add(p["id"])
            out.append((p["id"], p.get("displayName", p["name"]), tags(p),
                        p["sourceLocation"].get("fileID", ""), p["sourceLocation"].get("line", 0)))
        elif p["kind"] == "function":
            functions.append(p)
    for p in functions:
        if p["id"].split("/")[0] not in listed:
            out.append((p["id"].split("/")[0] if "/" in p["id"] else p["id"], p.get("displayName", p["name"]), tags(p),
                        p["sourceLocation"].get("fileID", ""), p["sourceLocation"].get("line", 0)))
    return out


def main(argv):
    if len(argv) < 3 or argv[1] not in ("check", "select"):
        sys.exit(__doc__)
    found = units(argv[2])
    if not found:
        sys.exit(f"{argv[2]}: no suites listed; was the test bundle built?")
    if argv[1] == "check":
        bad = [f"{file}:{line}: \"{name}\" carries none of the tags {', '.join(sorted(KNOWN))} (tags: {sorted(t) or 'none'})"
               for (_, name, t, file, line) in found if not (t & KNOWN)]
        if bad:
            print("\n".join(bad) + "\nadd .tags(...) from Tests/TestSupport/Tags.swift to each", file=sys.stderr)
            sys.exit(1)
        return
    wanted = set(argv[3:])
    unknown = wanted - KNOWN
    if not wanted or unknown:
        sys.exit(f"unknown tag {', '.join(sorted(unknown)) or '(none given)'}: the tags are {', '.join(sorted(KNOWN))}")
    selected = []
    for (ident, _, t, _, _) in found:
        if t & wanted and ident not in selected:
            selected.append(ident)
            print("^" + re.escape(ident) + "(/|$)")


if __name__ == "__main__":
    main(sys.argv)
