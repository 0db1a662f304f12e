#!/usr/bin/env python3
"""Writes Capstan's man pages from the argument parser's own description of the command tree.

    scripts/manpages.py [CAPSTAN] [OUTDIR]

CAPSTAN (default .build/debug/capstan) is run with --experimental-dump-help; OUTDIR (default
docs/man) receives capstan.1 and one page per command, git-style: capstan-backup-now.1. Every text
comes from the commands' own abstracts, discussions (examples included) and option help, so the pages
say what `--help` says. View one with `man -l docs/man/capstan-backup-now.1`; install with
`cp docs/man/*.1 /usr/local/share/man/man1/`.
"""
import json
import os
import subprocess
import sys


def roff(text):
    """Escapes text for a roff line: backslashes, '-' as a minus (so options copy and paste as typed), other
    characters than ASCII as named code points, and a leading . or ' that roff would read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    text = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)
    return "\n".join(("\\&" + line if line[:1] in ".'" else line) for line in text.split("\n"))


def option_label(argument):
    names = argument.get("names") or []
    spelled = ", ".join(("-" if n["kind"] == "short" else "--") + n["name"] for n in names)
    if argument["kind"] == "positional":
        return "<%s>" % argument.get("valueName", "value")
    if argument["kind"] == "option":
        spelled += " <%s>" % argument.get("valueName", "value")
    return spelled


def synopsis(path, node):
    words = ["capstan"] + path
    for argument in node.get("arguments", []):
        if not argument.get("shouldDisplay", True) or argument.get("valueName") in ("help", "version"):
            continue
        label = option_label(argument).split(", ")[-1]
        if argument.get("isRepeating"):
            label += " ..."
        words.append("[%s]" % label if argument.get("isOptional") else label)
    subcommands = [s for s in node.get("subcommands", []) if s["commandName"] != "help"]
    if subcommands:
        words.append("<subcommand>")
    return " ".join(words)


def page(path, node, date):
    name = "-".join(["capstan"] + path)
    lines = ['.TH "%s" 1 "%s" "Capstan" "Capstan Manual"' % (name.upper(), date), ".SH NAME",
             "%s \\- %s" % (roff(name), roff(node.get("abstract", ""))), ".SH SYNOPSIS", ".B " + roff(synopsis(path, node))]
    discussion = node.get("discussion", "")
    if discussion:
        lines += [".SH DESCRIPTION"]
        for paragraph in discussion.split("\n\n"):
            if paragraph.startswith("Examples:"):
                continue
            lines += [".PP", roff(paragraph)]
        if "Examples:" in discussion:
            lines += [".SH EXAMPLES", ".nf"]
            lines += [roff(line.strip()) for line in discussion.split("Examples:", 1)[1].strip().split("\n")]
            lines += [".fi"]
    arguments = [a for a in node.get("arguments", []) if a.get("shouldDisplay", True)]
    if arguments:
        lines.append(".SH OPTIONS")
        for argument in arguments:
            lines += [".TP", ".B " + roff(option_label(argument)), roff(argument.get("abstract", ""))]
    subcommands = [s for s in node.get("subcommands", []) if s["commandName"] != "help"]
    if subcommands:
        lines.append(".SH COMMANDS")
        for sub in subcommands:
            lines += [".TP", ".B " + roff(sub["commandName"]), roff(sub.get("abstract", ""))]
    see = ["capstan(1)"] if path else []
    see += ["%s(1)" % "-".join(["capstan"] + path + [s["commandName"]]) for s in subcommands]
    if see:
        lines += [".SH SEE ALSO", roff(", ".join(see))]
    return name + ".1", "\n".join(lines) + "\n"


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/capstan"
    outdir = sys.argv[2] if len(sys.argv) > 2 else "docs/man"
    dump = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True, text=True).stdout)
    date = subprocess.run(["git", "log", "-1", "--format=%cs"], capture_output=True, text=True).stdout.strip() or "Capstan"
    os.makedirs(outdir, exist_ok=True)
    written = []

    def walk(node, path):
        name, text = page(path, node, date)
        with open(os.path.join(outdir, name), "w") as f:
            f.write(text)
        written.append(name)
        for sub in node.get("subcommands", []):
            if sub["commandName"] != "help":
                walk(sub, path + [sub["commandName"]])

    walk(dump["command"], [])
    print("%d man pages in %s" % (len(written), outdir))


if __name__ == "__main__":
    main()
