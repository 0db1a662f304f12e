#!/usr/bin/env python3
"""Regenerates Capstan's per-minor feature-gate tables from upstream Kubernetes sources.

    Tests/Standins/regen-feature-gates.py MIRRORS [--minors 29,30,31,32]

MIRRORS is a directory of bare git snapshots named OWNER+NAME/repo (the layout the snapshot tool writes).
Every gate a Kubernetes binary registers is read from the feature maps of these packages:

- k8s.io/kubernetes pkg/features (kube_features.go, and versioned_kube_features.go from 1.31): read from
  kubernetes+kubernetes/repo at tag v1.MINOR.0 when that snapshot is present. The main repository is larger
  than a snapshot may be where this table was made, so otherwise the package is read from a project that
  vendors k8s.io/kubernetes at that release (VENDORED below: repository, commit, the module version its
  vendor/modules.txt records).
- k8s.io/apiserver, apiextensions-apiserver, component-base (logs, metrics, zpages, and the AllAlpha/AllBeta
  gates of featuregate), client-go (1.30+) and controller-manager at tag v0.MINOR.0.

Writes Sources/Inventory/FeatureGates/kubernetes-1.MINOR.json: each gate with its default, stage and whether
the binary refuses a value other than the default (LockToDefault) at that minor, and the sources it was read
from. Only facts are extracted (names, defaults, stages); no upstream code is copied.
"""
import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "Sources", "Inventory", "FeatureGates")

VENDORED = {
    29: ("kubernetes/autoscaler", "cluster-autoscaler-1.29.0", "cluster-autoscaler/vendor/k8s.io/kubernetes",
         "k8s.io/kubernetes v1.29.0"),
    30: ("kubernetes/autoscaler", "cluster-autoscaler-1.30.0", "cluster-autoscaler/vendor/k8s.io/kubernetes",
         "k8s.io/kubernetes v1.30.0"),
    31: ("ceph/ceph-csi", "5a66991bb3db95a6053b470ca874d48bbdfccfd7", "vendor/k8s.io/kubernetes",
         "k8s.io/kubernetes v1.31.0"),
    32: ("kubeedge/kubeedge", "549263582805bdca2815971877c9a91170b52f1b", "vendor/k8s.io/kubernetes",
         "k8s.io/kubernetes v1.32.10 (replaced by github.com/kubeedge/kubernetes v1.32.10-kubeedge1)"),
}
# Owners whose gates a vendoring project's fork added: left out, upstream binaries do not register them.
FORK_OWNERS = {32: "@kubeedge"}

STAGING = [
    ("kubernetes/apiserver", "pkg/features/kube_features.go"),
    ("kubernetes/apiextensions-apiserver", "pkg/features/kube_features.go"),
    ("kubernetes/component-base", "logs/api/v1/kube_features.go"),
    ("kubernetes/component-base", "metrics/features/kube_features.go"),
    ("kubernetes/component-base", "zpages/features/kube_features.go"),
    ("kubernetes/component-base", "featuregate/feature_gate.go"),
    ("kubernetes/client-go", "features/known_features.go"),
    ("kubernetes/controller-manager", "pkg/features/kube_features.go"),
]


def git(mirrors, repo, *args):
    run = subprocess.run(["git", "--git-dir", os.path.join(mirrors, repo.replace("/", "+"), "repo")] + list(args),
                         capture_output=True, text=True)
    return run.stdout if run.returncode == 0 else None


def _regen_flags():
    """regen-flags.py as a module, for its Go comment stripper."""
    spec = importlib.util.spec_from_file_location("regen_flags", os.path.join(HERE, "regen-flags.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


strip_comments = _regen_flags().strip_comments


CONST = re.compile(r"\b(\w+)\s+(?:featuregate\.)?Feature\s*=\s*\"(\w+)\"")
MAP_START = re.compile(r"map\[(?:featuregate\.)?Feature\](?:featuregate\.)?(FeatureSpec|VersionedSpecs)\s*\{")
FIELD = re.compile(r"(Version|Default|LockToDefault|PreRelease)\s*:\s*([^,}]+)")


def block(src, start):
    """Index just past the '}' matching the '{' at src[start]."""
    depth = 0
    for i in range(start, len(src)):
        if src[i] == "{":
            depth += 1
        elif src[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced braces")


def entries(body):
    """(key, value) pairs of a composite literal's top level `KEY: {...}` entries."""
    i = 0
    while True:
        match = re.compile(r"([\w.]+)\s*:\s*\{").search(body, i)
        if not match:
            return
        end = block(body, match.end() - 1)
        yield match.group(1), body[match.end() - 1:end]
        i = end


def spec(text):
    fields = dict(FIELD.findall(text))
    version = re.search(r"\"([\d.]+)\"", fields.get("Version", ""))
    return {
        "version": tuple(int(p) for p in version.group(1).split(".")) if version else None,
        "default": fields.get("Default", "false").strip() == "true",
        "locked": fields.get("LockToDefault", "false").strip() == "true",
        "stage": fields.get("PreRelease", "").strip().split(".")[-1] or "GA",
    }


def fork_gates(src, owner):
    """Constants whose comment block names a fork's owner."""
    return set(re.findall(r"//\s*owner:\s*%s\b[^\n]*\n(?:\s*//[^\n]*\n)*\s*(\w+)\s+featuregate\.Feature" % re.escape(owner), src))


def read_gates(src, minor, constants, excluded=()):
    """Gates registered by the feature maps in one Go file, as seen by a binary of 1.MINOR."""
    excluded = set(excluded)
    src = strip_comments(src)
    for name, value in CONST.findall(src):
        constants[name] = value
    gates = {}
    for match in MAP_START.finditer(src):
        body = src[match.end() - 1:block(src, match.end() - 1)][1:-1]
        for key, value in entries(body):
            if match.group(1) == "FeatureSpec":
                chosen = spec(value)
            else:
                specs = [spec(value[m.start():block(value, m.start())]) for m in re.finditer(r"\{\s*Version", value)]
                applicable = [s for s in specs if s["version"] is None or s["version"] <= (1, minor)]
                if not applicable:
                    continue
                chosen = max(applicable, key=lambda s: s["version"] or (0, 0))
            if key.split(".")[-1] not in excluded:
                gates[key.split(".")[-1]] = chosen
    return gates


def build(mirrors, minor):
    sources, raw, constants = [], {}, {}
    main_tag = "v1.%d.0" % minor
    if os.path.isdir(os.path.join(mirrors, "kubernetes+kubernetes", "repo")):
        repo, ref, prefix, module = "kubernetes/kubernetes", main_tag, "", "k8s.io/kubernetes " + main_tag
    else:
        repo, ref, prefix, module = VENDORED[minor]
        # PREFIX is [DIR/]vendor/k8s.io/kubernetes; the module list sits beside it in [DIR/]vendor.
        modules = git(mirrors, repo, "show", "%s:%svendor/modules.txt" % (ref, prefix.split("vendor/k8s.io/")[0]))
        if modules is None or ("# " + module.split(" (")[0]) not in modules:
            sys.exit("%s at %s does not vendor %s" % (repo, ref, module))
    owner = FORK_OWNERS.get(minor) if repo != "kubernetes/kubernetes" else None
    files = {}
    for name in ("kube_features.go", "versioned_kube_features.go"):
        path = "%s/pkg/features/%s" % (prefix, name) if prefix else "pkg/features/" + name
        src = git(mirrors, repo, "show", "%s:%s" % (ref, path))
        if src is not None:
            files[path] = src
    excluded = set().union(*(fork_gates(src, owner) for src in files.values())) if owner else set()
    for path, src in files.items():
        raw.update(read_gates(src, minor, constants, excluded))
        source = {"repository": repo, "ref": ref, "path": path, "module": module}
        if excluded:
            source["leftOut"] = sorted(excluded)
            source["leftOutWhy"] = "added by the fork (owner %s), not registered by upstream binaries" % owner
        sources.append(source)
    if not raw:
        sys.exit("no pkg/features in %s at %s" % (repo, ref))
    for repo, path in STAGING:
        ref = "v0.%d.0" % minor
        src = git(mirrors, repo, "show", "%s:%s" % (ref, path))
        if src is None:
            continue
        found = read_gates(src, minor, constants)
        if path.endswith("feature_gate.go"):
            found = {c: {"version": None, "default": False, "locked": False, "stage": "Alpha" if "Alpha" in v else "Beta"}
                     for c, v in constants.items() if v in ("AllAlpha", "AllBeta")}
        raw.update({k: v for k, v in found.items() if k not in raw})
        sources.append({"repository": repo, "ref": ref, "path": path})
    gates = {}
    for key, value in raw.items():
        name = constants.get(key, key)
        gates[name] = {"default": value["default"], "stage": value["stage"], "locked": value["locked"]}
    return {"kubernetes": "1.%d" % minor,
            "about": "Feature gates the Kubernetes %d.%d binaries register (kube-apiserver, kube-controller-manager, "
                     "kube-scheduler, kubelet and kube-proxy share one gate set), read by "
                     "Tests/Standins/regen-feature-gates.py from the sources below." % (1, minor),
            "sources": sources,
            "gates": dict(sorted(gates.items()))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mirrors")
    parser.add_argument("--minors", default="29,30,31,32")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for minor in (int(m) for m in args.minors.split(",")):
        table = build(args.mirrors, minor)
        with open(os.path.join(OUT, "kubernetes-1.%d.json" % minor), "w") as f:
            json.dump(table, f, indent=1)
            f.write("\n")
        print("1.%d: %d gates" % (minor, len(table["gates"])))


if __name__ == "__main__":
    main()
