#!/usr/bin/env python3
# CAPSTAN STAND-IN — NOT A KUBERNETES BINARY.
#
# Installed under the names kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
# kube-proxy by scripts/standin-artifacts.sh, because real Kubernetes release binaries cannot be
# downloaded where Capstan's tests run. It verifies what Capstan gave the component instead of running it:
#   * every certificate, key, CA and kubeconfig flag names an existing file;
#   * each certificate/key pair matches (also the client certificate embedded in kubeconfigs);
#   * kube-apiserver reaches every --etcd-servers member over mutual TLS with --etcd-certfile/keyfile
#     and gets {"health":"true"} from /health;
#   * kube-apiserver serves /livez and /readyz over TLS with --tls-cert-file on --secure-port, asking
#     for client certificates signed by --client-ca-file;
#   * the other components reach the API server named in their kubeconfig with its client certificate;
#   * kube-controller-manager and kube-scheduler serve /healthz over TLS on 127.0.0.1:10257 / 10259 (with
#     the kubeconfig's client pair in place of the self-signed certificate the real ones make up), the
#     kubelet on 127.0.0.1:10248 and kube-proxy on 10256, over plain HTTP like the real ones; the kubelet also
#     serves 10250 over TLS with its configuration's tlsCertFile/tlsPrivateKeyFile when given.
# Any failed check exits non-zero with a message saying which flag or file is wrong.
#
# Before any of that it parses its command line and configuration files as strictly as the real binary
# of its version: flags as pflag parses them (every spelling pflag accepts; unknown flags, single-dash long
# flags, missing and malformed values refused with pflag's wording, exit 1; deprecated flags warn on
# stderr) against the flag table of that binary and minor in Sources/Inventory/KubernetesFlags/, plus the enumerations
# and list rules the real binary validates; the kubelet and kube-proxy --config, the audit policy,
# encryption and admission configurations and every kubeconfig decoded against the upstream Go types of that
# minor (Sources/Inventory/KubernetesSchemas/): apiVersion, kind, every field name and type, audit rule validation;
# feature gates (--feature-gates, and featureGates in the kubelet's and kube-proxy's configuration) against the gates
# that minor registers (Sources/Inventory/FeatureGates/): an unknown gate or a locked gate set against its default
# stops it, as featureGate.SetFromMap does. The tables are regenerated from upstream sources by
# Tests/Standins/regen-flags.py and regen-feature-gates.py. YAML is read by a
# small strict reader of the subset Capstan writes, because lab hosts have python3 without PyYAML.
#
# Run as k8s-standin.py it is a tool: `check NAME VERSION [--root DIR] -- ARGS` checks an invocation
# without serving (files under DIR), `check-file VERSION KIND PATH` one file, `embed NAME VERSION` prints
# the installable copy with its tables built in (scripts/standin-artifacts.sh uses it).
#
# Installed as kubectl (scripts/standin-artifacts.sh) it answers
# `version --client` and `cordon|uncordon|drain NODE`: it reaches the API server of --kubeconfig with its
# client certificate, then appends one line per call to /var/log/capstan-standin/kubectl.log
# (`<unix time> <verb> <node> <flags>`) so tests can check the order of cordons, drains and uncordons.
# It also answers `apply|diff --server-side --field-manager=M -f -` (a JSON List on stdin), `get KINDS -A -l
# SELECTOR -o json` and `delete RESOURCE NAME [--namespace NS] [--ignore-not-found]` against an object store on
# the host (/var/lib/capstan-standin/objects.json) in place of the API server's storage, and logs each object
# it applies or deletes; unknown flags are refused as kubectl refuses them.
# A drain of a node named in /etc/capstan-standin/pdb-blocked (one per line) behaves like a drain held
# up by a PodDisruptionBudget: without --disable-eviction it retries until --timeout and fails.
#
# Test hook: a file /etc/capstan-standin/fail-<name>-<version> (e.g. fail-kube-apiserver-1.32.0) makes
# that component at that version exit non-zero at start, as a release that does not come up would.
import base64
import csv
import hashlib
import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

NAME = os.path.basename(sys.argv[0])
VERSION = "@VERSION@"
HERE = os.path.dirname(os.path.abspath(__file__))
# The flag tables and configuration schemas are Capstan's own (inventory extraArgs and componentConfig are checked
# against them); the stand-in reads the same files.
FLAGS = os.path.join(HERE, "..", "..", "Sources", "Inventory", "KubernetesFlags")
SCHEMAS = os.path.join(HERE, "..", "..", "Sources", "Inventory", "KubernetesSchemas")
GATES = os.path.join(HERE, "..", "..", "Sources", "Inventory", "FeatureGates")
# Replaced by `k8s-standin.py embed` with this binary's flag table, the version's schemas and its feature gates, so an
# installed copy needs no other file; run from the source tree it reads Sources/Inventory/KubernetesFlags,
# KubernetesSchemas and FeatureGates instead.
EMBEDDED = None
COMPONENTS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]


# ------------------------------------------------------------------ strict checks (no side effects)

class Refusal(Exception):
    """What the real binary would print before exiting 1."""


def minor_of(version):
    match = re.match(r"v?1\.(\d+)", version)
    if not match:
        raise Refusal("version %r is not 1.MINOR[.PATCH]" % version)
    return int(match.group(1))


_LOADED = {}


def load_data(name, version):
    """(flag table, schemas) for this component at this version."""
    key = (name, minor_of(version) if EMBEDDED is None else 0)
    if key not in _LOADED:
        _LOADED[key] = _load_data(name, version)
    return _LOADED[key]


def _load_data(name, version):
    if EMBEDDED is not None:
        return EMBEDDED["flags"], EMBEDDED["schemas"]
    minor = minor_of(version)
    flags_path = os.path.join(FLAGS, "%s-1.%d.json" % (name, minor))
    schema_path = os.path.join(SCHEMAS, "1.%d.json" % minor)
    for path in (flags_path, schema_path):
        if not os.path.isfile(path):
            raise Refusal("no stand-in data for Kubernetes 1.%d: %s is missing (run Tests/Standins/regen-flags.py)" % (minor, path))
    with open(flags_path) as f, open(schema_path) as g:
        return json.load(f), json.load(g)


def load_gates(version):
    """The feature gates a binary of this version registers: name → {default, stage, locked}."""
    if EMBEDDED is not None:
        return EMBEDDED["gates"]
    key = ("gates", minor_of(version))
    if key not in _LOADED:
        path = os.path.join(GATES, "kubernetes-1.%d.json" % minor_of(version))
        if not os.path.isfile(path):
            raise Refusal("no stand-in data for Kubernetes %s: %s is missing (run Tests/Standins/regen-feature-gates.py)" % (version, path))
        with open(path) as f:
            _LOADED[key] = json.load(f)["gates"]
    return _LOADED[key]


def check_feature_gates(settings, gates, registry):
    """featureGate.SetFromMap over every gate setting in order: an unknown gate, or a value other than the default of
    a gate locked to it, stops the binary. `registry`: the 1.32+ component registry's `kube:` prefix is allowed."""
    prefixed = [name for name, _ in settings if ":" in name]
    if registry and prefixed and len(prefixed) != len(settings):
        raise Refusal("set kube feature gates with default empty prefix or kube: prefix consistently, do not mix use")
    for name, value in settings:
        if ":" in name:
            component, _, name = name.partition(":")
            if not registry or component != "kube":
                raise Refusal("component not registered: %s" % component if registry else "unrecognized feature gate: %s:%s" % (component, name))
        gate = gates.get(name)
        if gate is None:
            raise Refusal("unrecognized feature gate: %s" % name)
        if gate["locked"] and gate["default"] != value:
            raise Refusal("cannot set feature gate %s to %s, feature is locked to %s" % (name, str(value).lower(), str(gate["default"]).lower()))


# --- flag values, as pflag and the Kubernetes flag types parse them

GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
           "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")
QUANTITY = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")
BITS = {"int": 64, "int32": 32, "uint": 64, "uint32": 32}


def go_int(text, kind):
    """strconv.ParseInt/ParseUint with base 0, as pflag's integer flags call them."""
    bits = BITS[kind]
    unsigned = kind.startswith("u")
    body = text[1:] if text[:1] in "+-" and not unsigned else text
    sign = -1 if text.startswith("-") else 1
    if re.fullmatch(r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+", body):
        value = int(body, 0)
    elif re.fullmatch(r"0[0-7]+", body):
        value = int(body, 8)
    elif re.fullmatch(r"\d+", body):
        value = int(body)
    else:
        raise ValueError("strconv.Parse%s: parsing \"%s\": invalid syntax" % ("Uint" if unsigned else "Int", text))
    value *= sign
    low, high = (0, 2 ** bits - 1) if unsigned else (-2 ** (bits - 1), 2 ** (bits - 1) - 1)
    if not low <= value <= high:
        raise ValueError("strconv.Parse%s: parsing \"%s\": value out of range" % ("Uint" if unsigned else "Int", text))
    return value


def go_csv(text):
    """A comma-separated list as pflag's string slices read it (encoding/csv, one record)."""
    if text == "":
        return []
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as error:
        raise ValueError(str(error))
    return rows[0] if rows else []


def parse_ip(text):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError("\"%s\" is not a valid IP address" % text)


def parse_cidr(text):
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError("invalid CIDR address: %s" % text)


def pairs(text, separator, what):
    out = []
    for item in [i for i in text.split(",") if i.strip()] if text else []:
        key, sep, value = item.partition(separator)
        if not sep:
            raise ValueError("malformed pair, expect %s" % what)
        out.append((key.strip(), value.strip()))
    return out


def check_value(kind, text):
    """Raises ValueError with pflag's wording when `text` is not a value of `kind`."""
    if kind in ("bool", "versionBool"):
        if text not in GO_BOOL and not (kind == "versionBool" and text == "raw"):
            raise ValueError('strconv.ParseBool: parsing "%s": invalid syntax' % text)
    elif kind in BITS:
        go_int(text, kind)
    elif kind == "float":
        try:
            float(text)
        except ValueError:
            raise ValueError("strconv.ParseFloat: parsing \"%s\": invalid syntax" % text)
    elif kind == "duration":
        if not DURATION.fullmatch(text):
            raise ValueError('time: invalid duration "%s"' % text)
    elif kind in ("stringSlice", "stringArray"):
        go_csv(text)
    elif kind == "intSlice":
        for item in go_csv(text):
            go_int(item, "int")
    elif kind == "ip":
        parse_ip(text)
    elif kind == "ipSlice":
        for item in go_csv(text):
            parse_ip(item)
    elif kind == "cidr":
        parse_cidr(text)
    elif kind == "ipPort":
        try:
            parse_ip(text)
        except ValueError:
            host, _, port = text.rpartition(":")
            parse_ip(host.strip("[]"))
            if not port.isdigit() or int(port) > 65535:
                raise ValueError("\"%s\" is not a valid IP:port" % text)
    elif kind in ("mapStringString", "mapStringInt"):
        for key, value in pairs(text, "=", "string=string"):
            if kind == "mapStringInt":
                go_int(value, "int")
    elif kind == "mapStringBool":
        for key, value in pairs(text, "=", "string=bool"):
            if value not in GO_BOOL:
                raise ValueError("invalid value of %s=%s, err: strconv.ParseBool: parsing \"%s\": invalid syntax" % (key, value, value))
    elif kind == "featureGates":
        for key, value in pairs(text, "=", "[component:]Name=bool"):
            if value not in GO_BOOL:
                raise ValueError("invalid value of %s=%s, err: strconv.ParseBool: parsing \"%s\": invalid syntax" % (key, value, value))
    elif kind == "colonMultimap":
        pairs(text, ":", "string:string")
    elif kind == "quantity":
        if not QUANTITY.fullmatch(text):
            raise ValueError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    elif kind == "portRange":
        if not re.fullmatch(r"\d+(-\d+|\+\d+)?", text.strip()):
            raise ValueError("unable to parse port range: %s" % text)
    elif kind == "vmodule":
        for key, value in pairs(text, "=", "pattern=N"):
            go_int(value, "int32")
    elif kind == "namedCertKey":
        if len(text.split(":", 1)[0].split(",")) != 2:
            raise ValueError("expected comma separated certificate and key file paths")
    elif kind == "taints":
        for item in go_csv(text):
            if not re.fullmatch(r"[^=:]+(=[^=:]*)?:[^=:]+", item):
                raise ValueError("invalid taint spec: %s" % item)
    # "string", "value", "triState", "reservedMemory": any text


def check_semantics(name, check, value):
    """The value checks the real binary makes after parsing (enumerations, list lengths, formats)."""
    items = go_csv(value) if check.get("list") else [value]
    if check.get("taints"):
        items = [item.rsplit(":", 1)[1] for item in go_csv(value)]
    if "max" in check and len(items) > check["max"]:
        raise Refusal("--%s=%s: at most %d values are allowed" % (name, value, check["max"]))
    seen = set()
    for item in items:
        item = item.strip()
        if "values" in check and item not in check["values"]:
            allowed = ", ".join(v for v in check["values"] if v) or "(none)"
            raise Refusal("--%s: unsupported value \"%s\" (supported: %s)" % (name, item, allowed))
        if check.get("unique") and item in seen:
            raise Refusal("--%s: \"%s\" is specified more than once" % (name, item))
        seen.add(item)
        if check.get("format") == "cidr":
            try:
                parse_cidr(item)
            except ValueError:
                raise Refusal("--%s: \"%s\" is not a valid CIDR" % (name, item))
        elif check.get("format") == "ip":
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise Refusal("--%s: \"%s\" is not a valid IP address" % (name, item))


def parse_flags(argv, table, warn):
    """pflag's parsing of argv against `table`: name → [values] in order; refuses what pflag refuses.

    Accepts --name=value, --name value, bool --name alone, -x=value, -x value, -xvalue, shorthand clusters
    and `--`; '_' in names reads as '-' (cliflag.WordSepNormalizeFunc); deprecated flags warn."""
    flags = table["flags"]
    shorthands = {spec["shorthand"]: name for name, spec in flags.items() if spec.get("shorthand")}
    values, positional, i = {}, [], 0

    def takes_value(spec):
        return spec["type"] not in ("bool", "versionBool")

    def set_value(name, spec, text, shown):
        try:
            check_value(spec["type"], text)
        except ValueError as error:
            raise Refusal('invalid argument %r for "%s" flag: %s' % (text, shown, error))
        if spec.get("deprecated"):
            warn("Flag --%s has been deprecated, %s" % (name, spec["deprecated"]))
        values.setdefault(name, []).append(text)

    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, has_value, value = arg[2:].partition("=")
            if not name or name.startswith("-") or name.startswith("="):
                raise Refusal("bad flag syntax: %s" % arg)
            name = name.replace("_", "-")
            spec = flags.get(name)
            if spec is None:
                raise Refusal("unknown flag: --%s" % name)
            if not has_value:
                if not takes_value(spec):
                    value = "true"
                elif i < len(argv):
                    value, i = argv[i], i + 1
                else:
                    raise Refusal("flag needs an argument: --%s" % name)
            set_value(name, spec, value, "--" + name)
        elif arg.startswith("-") and len(arg) > 1:
            cluster = arg[1:]
            while cluster:
                letter = cluster[0]
                name = shorthands.get(letter)
                if name is None:
                    raise Refusal("unknown shorthand flag: %r in %s" % (letter, arg))
                spec = flags[name]
                rest = cluster[1:]
                if rest.startswith("="):
                    set_value(name, spec, rest[1:], "-%s, --%s" % (letter, name))
                    break
                if not takes_value(spec):
                    set_value(name, spec, "true", "-%s, --%s" % (letter, name))
                    cluster = rest
                    continue
                if rest:
                    set_value(name, spec, rest, "-%s, --%s" % (letter, name))
                elif i < len(argv):
                    set_value(name, spec, argv[i], "-%s, --%s" % (letter, name))
                    i += 1
                else:
                    raise Refusal("flag needs an argument: %r in %s" % (letter, arg))
                break
        else:
            positional.append(arg)
    if [p for p in positional if p]:
        raise Refusal('%r does not take any arguments, got %r' % (table["binary"], positional))
    for name, check in table.get("checks", {}).items():
        for value in values.get(name, []):
            check_semantics(name, check, value)
    return values


def last(values, name, default=None):
    return values[name][-1] if values.get(name) else default


# --- configuration files: a strict reader for the YAML Capstan writes, then the upstream Go types

class YAMLError(Exception):
    pass


YAML_TRUE = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}
YAML_FALSE = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
YAML_NULL = {"", "~", "null", "Null", "NULL"}


def yaml_scalar(text, where):
    """A plain or quoted scalar resolved as sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) resolves it."""
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise YAMLError("%s: unterminated double-quoted string" % where)
        try:
            return json.loads(text)
        except ValueError:
            raise YAMLError("%s: bad escape in %s" % (where, text))
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise YAMLError("%s: unterminated single-quoted string" % where)
        return text[1:-1].replace("''", "'")
    if text[:1] in "&*!|>%@`":
        raise YAMLError("%s: %r is YAML the stand-in does not read (anchors, aliases, tags, block scalars); write it plainly" % (where, text))
    if text in YAML_TRUE:
        return True
    if text in YAML_FALSE:
        return False
    if text in YAML_NULL:
        return None
    if re.fullmatch(r"[-+]?(0|[1-9][0-9_]*)", text):
        return int(text.replace("_", ""))
    if re.fullmatch(r"[-+]?0x[0-9a-fA-F_]+", text):
        return int(text.replace("_", ""), 16)
    if re.fullmatch(r"[-+]?0[0-7_]+", text):
        return int(text.replace("_", ""), 8)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+][0-9]+)?", text):
        return float(text.replace("_", ""))
    if text in (".inf", ".Inf", ".INF", "+.inf", "-.inf", ".nan", ".NaN", ".NAN"):
        return float(text.replace(".", "").replace("NaN", "nan").replace("NAN", "nan"))
    return text


def strip_comment(line):
    out, quote, escaped = [], None, False
    for index, c in enumerate(line):
        if quote:
            if escaped:
                escaped = False
            elif quote == '"' and c == "\\":
                escaped = True
            elif c == quote:
                quote = None
        elif c in "\"'" and (index == 0 or line[index - 1] in " \t[{,:-"):
            quote = c
        elif c == "#" and (index == 0 or line[index - 1] in " \t"):
            break
        out.append(c)
    return "".join(out).rstrip()


def split_flow(text, where):
    items, depth, current, quote, escaped = [], 0, [], None, False
    for c in text:
        if quote:
            current.append(c)
            if escaped:
                escaped = False
            elif quote == '"' and c == "\\":
                escaped = True
            elif c == quote:
                quote = None
            continue
        if c in "\"'":
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(c)
    if quote or depth:
        raise YAMLError("%s: unbalanced flow collection" % where)
    tail = "".join(current).strip()
    if tail:
        items.append(tail)
    return items


def yaml_flow(text, where):
    if text.startswith("["):
        if not text.endswith("]"):
            raise YAMLError("%s: unterminated flow sequence" % where)
        return [yaml_flow(item, where) for item in split_flow(text[1:-1], where)]
    if text.startswith("{"):
        if not text.endswith("}"):
            raise YAMLError("%s: unterminated flow mapping" % where)
        out = {}
        for item in split_flow(text[1:-1], where):
            key, value = split_key(item, where)
            if key is None:
                raise YAMLError("%s: %r is not key: value" % (where, item))
            if key in out:
                raise YAMLError("%s: mapping key %r already defined" % (where, key))
            out[key] = yaml_flow(value, where) if value else None
        return out
    return yaml_scalar(text, where)


def split_key(text, where):
    """(key, rest) when text is `key: rest` or `key:`; (None, text) otherwise."""
    if text[:1] in "\"'":
        quote = text[0]
        end = text.find(quote, 1)
        while quote == "'" and end + 1 < len(text) and text[end + 1] == "'":
            end = text.find(quote, end + 2)
        if end > 0 and text[end + 1:end + 2] == ":" and (len(text) == end + 2 or text[end + 2] == " "):
            return yaml_scalar(text[:end + 1], where), text[end + 2:].strip()
        return None, text
    match = re.match(r"([^\s\[\]{},#'\"][^:#]*?):(\s+|$)", text)
    if not match or text.startswith("- "):
        return None, text
    return match.group(1), text[match.end():].strip()


def parse_yaml(text, path):
    """The YAML subset Capstan renders (block mappings and sequences, flow collections, plain and quoted
    scalars, comments), parsed strictly: duplicate keys, tabs and anything else are refused."""
    lines = []
    for number, raw in enumerate(text.split("\n"), 1):
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise YAMLError("%s:%d:1: tab in indentation" % (path, number))
        line = strip_comment(raw)
        if line.strip() in ("---",) and not lines:
            continue
        if line.strip() in ("---", "..."):
            raise YAMLError("%s:%d:1: more than one YAML document" % (path, number))
        if line.strip():
            lines.append((number, len(line) - len(line.lstrip(" ")), line.strip()))
    if not lines:
        return None
    position = [0]

    def where(index):
        number, indent, _ = lines[index]
        return "%s:%d:%d" % (path, number, indent + 1)

    def block(indent):
        index = position[0]
        if index >= len(lines):
            return None
        _, here, content = lines[index]
        if content == "-" or content.startswith("- "):
            return sequence(here)
        return mapping(here)

    def value_after(rest, indent, at, allow_same_indent_sequence=True):
        if rest:
            if rest[:1] in "[{":
                return yaml_flow(rest, at)
            return yaml_scalar(rest, at)
        index = position[0]
        if index < len(lines):
            _, next_indent, content = lines[index]
            if next_indent > indent or (allow_same_indent_sequence and next_indent == indent and (content == "-" or content.startswith("- "))):
                return block(next_indent)
        return None

    def mapping(indent):
        out = {}
        while position[0] < len(lines):
            index = position[0]
            _, here, content = lines[index]
            if here < indent:
                break
            if here > indent:
                raise YAMLError("%s: unexpected indentation" % where(index))
            if content == "-" or content.startswith("- "):
                break
            key, rest = split_key(content, where(index))
            if key is None:
                raise YAMLError("%s: expected `key: value`, found %r" % (where(index), content))
            if key in out:
                raise YAMLError("%s: mapping key %r already defined" % (where(index), key))
            position[0] += 1
            out[key] = value_after(rest, indent, where(index))
        return out

    def sequence(indent):
        out = []
        while position[0] < len(lines):
            index = position[0]
            number, here, content = lines[index]
            if here != indent or not (content == "-" or content.startswith("- ")):
                if here > indent:
                    raise YAMLError("%s: unexpected indentation" % where(index))
                break
            item = content[1:].strip()
            item_indent = here + (len(content) - len(content[1:].lstrip()))
            key, rest = split_key(item, where(index)) if item else (None, "")
            if key is not None:
                # `- key: value` starts a mapping whose keys sit at the item's indentation.
                lines[index] = (number, item_indent, item)
                out.append(mapping(item_indent))
            else:
                position[0] += 1
                out.append(value_after(item, here, where(index), allow_same_indent_sequence=False))
        return out

    result = block(lines[0][1])
    if position[0] < len(lines):
        raise YAMLError("%s: unexpected content %r" % (where(position[0]), lines[position[0]][2]))
    return result


def read_document(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=unique_keys(path))
        except ValueError as error:
            raise Refusal("%s: %s" % (path, error))
    try:
        return parse_yaml(text, path)
    except YAMLError as error:
        raise Refusal(str(error))


def unique_keys(path):
    def hook(items):
        out = {}
        for key, value in items:
            if key in out:
                raise ValueError('duplicate field "%s"' % key)
            out[key] = value
        return out
    return hook


GO_NAMES = {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}


def type_errors(value, spec, schemas, path, strict, unknown):
    """Errors encoding/json (with strict unknown-field checks) reports decoding `value` into `spec`."""
    t = spec["t"]
    if value is None or t == "any":
        return []
    go = GO_NAMES.get(type(value), "value")

    def wrong(expected):
        return ["cannot unmarshal %s into %s of type %s" % (go, path or "the document", expected)]

    if t == "string":
        return [] if isinstance(value, str) else wrong("string")
    if t == "bool":
        return [] if isinstance(value, bool) else wrong("bool")
    if t == "int":
        return [] if isinstance(value, int) and not isinstance(value, bool) else wrong("int")
    if t == "number":
        return [] if isinstance(value, (int, float)) and not isinstance(value, bool) else wrong("float")
    if t in ("duration", "durationOrInt"):
        if t == "durationOrInt" and isinstance(value, int) and not isinstance(value, bool):
            return []
        if not isinstance(value, str):
            return wrong("duration")
        return [] if DURATION.fullmatch(value) else ['%s: time: invalid duration "%s"' % (path, value)]
    if t == "quantity":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return []
        return [] if isinstance(value, str) and QUANTITY.fullmatch(value) else ["%s: quantities must match the regular expression" % path]
    if t == "intOrString":
        return [] if isinstance(value, (int, str)) and not isinstance(value, bool) else wrong("IntOrString")
    if t == "time":
        return [] if isinstance(value, str) else wrong("Time")
    if t == "bytes":
        if not isinstance(value, str):
            return wrong("[]uint8")
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            return ["%s: illegal base64 data" % path]
        return []
    if t == "list":
        if not isinstance(value, list):
            return wrong("[]" + spec["of"]["t"])
        errors = []
        for index, item in enumerate(value):
            errors += type_errors(item, spec["of"], schemas, "%s[%d]" % (path, index), strict, unknown)
        return errors
    if t == "map":
        if not isinstance(value, dict):
            return wrong("map")
        errors = []
        for key, item in value.items():
            errors += type_errors(item, spec["of"], schemas, "%s[%s]" % (path, key), strict, unknown)
        return errors
    if t == "struct":
        if not isinstance(value, dict):
            return wrong("struct")
        fields = struct_fields(spec["ref"], schemas)
        errors = []
        for key, item in value.items():
            child = "%s.%s" % (path, key) if path else key
            if key not in fields:
                unknown.append(child)
                continue
            errors += type_errors(item, fields[key], schemas, child, strict, unknown)
        return errors
    return []


def struct_fields(ref, schemas):
    entry = schemas["types"][ref]
    fields = dict(entry["fields"])
    for inline in entry["inline"]:
        for key, value in struct_fields(inline, schemas).items():
            fields.setdefault(key, value)
    return fields


def check_document(path, expected_kind, schemas, warn):
    """Decodes the file the way the component does and returns it; refuses what the component refuses.

    Unknown fields in strictly decoded kinds are refused although kubelet, kube-proxy and the API server's
    audit policy reader fall back to lenient decoding with a logged error: a misspelt field Capstan renders
    would be silently ignored there, which is the mistake this stand-in exists to catch."""
    if not os.path.isfile(path):
        raise Refusal("%s: no such file" % path)
    document = read_document(path)
    if expected_kind == "Config" and document is None:
        document = {}
    if not isinstance(document, dict):
        raise Refusal("%s: the document is not a mapping" % path)
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if expected_kind == "Config":
        api_version, kind = api_version or "v1", kind or "Config"
    if not kind:
        raise Refusal("%s: Object 'Kind' is missing" % path)
    if not api_version:
        raise Refusal("%s: Object 'apiVersion' is missing" % path)
    key = "%s/%s" % (api_version, kind)
    if key not in schemas["kinds"]:
        known = sorted(k.rsplit("/", 1)[0] for k in schemas["kinds"] if k.endswith("/" + kind))
        raise Refusal('%s: no kind "%s" is registered for version "%s" (Kubernetes %s knows %s)'
                      % (path, kind, api_version, schemas["kubernetes"], ", ".join(known) or "no such kind"))
    if kind != expected_kind:
        raise Refusal("%s: kind %s where %s is expected" % (path, kind, expected_kind))
    entry = schemas["kinds"][key]
    unknown = []
    errors = type_errors(document, {"t": "struct", "ref": entry["type"]}, schemas, "", entry["strict"], unknown)
    if errors:
        raise Refusal("%s: %s" % (path, "; ".join(errors)))
    if unknown:
        message = "%s: strict decoding error: %s" % (path, ", ".join('unknown field "%s"' % u for u in unknown))
        if entry["strict"]:
            raise Refusal(message)
        warn(message + " (ignored: this file is not decoded strictly)")
    if kind == "Policy":
        check_audit_policy(path, document)
    if kind == "Config":
        check_kubeconfig(path, document)
    if kind == "EncryptionConfiguration":
        check_encryption_config(path, document)
    if kind == "AdmissionConfiguration":
        check_admission_config(path, document)
    return document


POD_SECURITY_VERSIONS = ("pod-security.admission.config.k8s.io/v1", "pod-security.admission.config.k8s.io/v1beta1")
POD_SECURITY_LEVELS = ("privileged", "baseline", "restricted")
POD_SECURITY_VERSION = re.compile(r"latest|v1\.(0|[1-9][0-9]*)")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def check_admission_config(path, config):
    """The API server's admission configuration as it reads it at start: each plugin named once, and the
    PodSecurity plugin's inline PodSecurityConfiguration decoded strictly and validated as
    k8s.io/pod-security-admission/admission/api/validation does (levels, versions, exemption names); an invalid
    one stops the API server."""
    errors, seen = [], set()
    for i, plugin in enumerate(config.get("plugins") or []):
        name = plugin.get("name") or ""
        if not name:
            errors.append("plugins[%d].name: Required value" % i)
        if name in seen:
            errors.append("plugins[%d].name: Duplicate value: %r" % (i, name))
        seen.add(name)
        if name != "PodSecurity" or plugin.get("configuration") is None:
            continue
        errors += pod_security_errors(plugin["configuration"])
    if errors:
        raise Refusal("%s: %s" % (path, "; ".join(errors)))


def pod_security_errors(conf):
    if not isinstance(conf, dict):
        return ["PodSecurity configuration: not a mapping"]
    where = "PodSecurityConfiguration"
    if conf.get("apiVersion") not in POD_SECURITY_VERSIONS or conf.get("kind") != "PodSecurityConfiguration":
        return ['no kind "%s" is registered for version "%s" in scheme "pod-security-admission"' % (conf.get("kind"), conf.get("apiVersion"))]
    errors = []
    fields = {"": ("apiVersion", "kind", "defaults", "exemptions"),
              "defaults": ("enforce", "enforce-version", "audit", "audit-version", "warn", "warn-version"),
              "exemptions": ("usernames", "namespaces", "runtimeClasses")}
    for section, allowed in fields.items():
        block = conf if not section else (conf.get(section) or {})
        if not isinstance(block, dict):
            errors.append("%s.%s: expected a mapping" % (where, section))
            continue
        for key in block:
            if key not in allowed:
                errors.append('%s: strict decoding error: unknown field "%s"' % (where, (section + "." if section else "") + key))
    defaults = conf.get("defaults") or {}
    for mode in ("enforce", "audit", "warn"):
        level = defaults.get(mode, "")
        if level and level not in POD_SECURITY_LEVELS:
            errors.append('defaults.%s: Invalid value: "%s": must be one of privileged, baseline, restricted' % (mode, level))
        version = defaults.get(mode + "-version", "")
        if version and not POD_SECURITY_VERSION.fullmatch(str(version)):
            errors.append('defaults.%s-version: Invalid value: "%s": must be "latest" or "v1.x"' % (mode, version))
    exemptions = conf.get("exemptions") or {}
    checks = {"usernames": lambda v: bool(v), "namespaces": DNS_LABEL.fullmatch, "runtimeClasses": DNS_SUBDOMAIN.fullmatch}
    for key, valid in checks.items():
        values = exemptions.get(key) or []
        if not isinstance(values, list):
            errors.append("exemptions.%s: expected a list" % key)
            continue
        for i, value in enumerate(values):
            if not isinstance(value, str) or not valid(value):
                errors.append('exemptions.%s[%d]: Invalid value: "%s"' % (key, i, value))
            elif values.index(value) != i:
                errors.append('exemptions.%s[%d]: Duplicate value: "%s"' % (key, i, value))
    return errors


ENCRYPTION_PROVIDERS = ("kms", "aescbc", "aesgcm", "secretbox", "identity")
KEY_LENGTHS = {"aescbc": [16, 24, 32], "aesgcm": [16, 24, 32], "secretbox": [32]}


def check_encryption_config(path, config):
    """k8s.io/apiserver/pkg/apis/apiserver/validation ValidateEncryptionConfiguration, as the API server applies
    it at start (an invalid file stops it): resources and providers present, one provider type per element,
    keys named, unique and of the provider's length once base64-decoded."""
    errors = []
    resources = config.get("resources") or []
    if not resources:
        errors.append("resources: Required value: EncryptionConfiguration.Resources must contain at least one resource")
    for i, entry in enumerate(resources):
        at = "resources[%d]" % i
        if not entry.get("resources"):
            errors.append("%s.resources: Required value: EncryptionConfiguration.Resources[].Resources must contain at least one resource" % at)
        providers = entry.get("providers") or []
        if not providers:
            errors.append("%s.providers: Required value: EncryptionConfiguration.Resources[].Providers must contain at least one provider" % at)
        for j, provider in enumerate(providers):
            where = "%s.providers[%d]" % (at, j)
            kinds = [k for k in ENCRYPTION_PROVIDERS if provider.get(k) is not None]
            if len(kinds) > 1:
                errors.append("%s: Invalid value: more than one provider specified in a single element, should split into different list elements" % where)
                continue
            if not kinds:
                errors.append("%s: Invalid value: provider does not contain any of the expected providers: KMS, secretbox, aesgcm, aescbc, identity" % where)
                continue
            kind = kinds[0]
            if kind not in KEY_LENGTHS:
                continue
            keys = provider[kind].get("keys") or []
            if not keys:
                errors.append("%s.%s.keys: Required value: at least one key must be specified" % (where, kind))
            seen = set()
            for k, key in enumerate(keys):
                kat = "%s.%s.keys[%d]" % (where, kind, k)
                name, secret = key.get("name") or "", key.get("secret") or ""
                if not name:
                    errors.append("%s.name: Required value: key name is required" % kat)
                elif ":" in name:
                    errors.append("%s.name: Invalid value: %r: key name should not contain ':'" % (kat, name))
                elif name in seen:
                    errors.append("%s.name: Duplicate value: %r" % (kat, name))
                seen.add(name)
                if not secret:
                    errors.append("%s.secret: Required value: secret is required" % kat)
                    continue
                try:
                    raw = base64.b64decode(secret, validate=True)
                except ValueError:
                    errors.append("%s.secret: Invalid value: REDACTED: secrets must be base64 encoded" % kat)
                    continue
                if len(raw) not in KEY_LENGTHS[kind]:
                    errors.append("%s.secret: Invalid value: REDACTED: secret is not of the expected length, got %d, expected one of %s"
                                  % (kat, len(raw), KEY_LENGTHS[kind]))
    if errors:
        raise Refusal("%s: %s" % (path, "; ".join(errors)))


def encryption_of(config):
    """What the API server writes Secrets with and can read them with: the first provider of the entry for
    secrets (its first key) writes, every provider and key reads."""
    if not config:
        return {"writer": "identity", "readers": ["identity"]}
    for entry in config.get("resources") or []:
        if "secrets" in (entry.get("resources") or []):
            names = []
            for provider in entry.get("providers") or []:
                kind = next(k for k in ENCRYPTION_PROVIDERS if provider.get(k) is not None)
                if kind in KEY_LENGTHS:
                    names += ["%s:%s" % (kind, key["name"]) for key in provider[kind].get("keys") or []]
                else:
                    names.append(kind)
            return {"writer": names[0], "readers": names}
    return {"writer": "identity", "readers": ["identity"]}


def check_audit_policy(path, policy):
    """k8s.io/apiserver/pkg/apis/audit/validation, applied as the API server applies it at start."""
    levels = ["None", "Metadata", "Request", "RequestResponse"]
    stages = ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]
    errors = []
    for i, stage in enumerate(policy.get("omitStages") or []):
        if stage not in stages:
            errors.append("omitStages[%d]: Invalid value: %r: allowed stages are %s" % (i, stage, ",".join(stages)))
    rules = policy.get("rules") or []
    if not rules:
        errors.append("loaded illegal policy with 0 rules")
    for i, rule in enumerate(rules):
        at = "rules[%d]" % i
        level = rule.get("level") or ""
        if not level:
            errors.append("%s.level: Required value" % at)
        elif level not in levels:
            errors.append('%s.level: Unsupported value: "%s": supported values: %s' % (at, level, ", ".join('"%s"' % l for l in levels)))
        for j, url in enumerate(rule.get("nonResourceURLs") or []):
            if url == "*":
                continue
            if not url.startswith("/"):
                errors.append("%s.nonResourceURLs[%d]: Invalid value: %r: non-resource URL rules must begin with a '/' character" % (at, j, url))
            if url and "*" in url[:-1]:
                errors.append("%s.nonResourceURLs[%d]: Invalid value: %r: non-resource URL wildcards '*' must be the final character of the rule" % (at, j, url))
        for j, group in enumerate(rule.get("resources") or []):
            name = group.get("group") or ""
            if name and not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name):
                errors.append("%s.resources.group: Invalid value: %r: a lowercase RFC 1123 subdomain is required" % (at, name))
            if group.get("resourceNames") and not group.get("resources"):
                errors.append("%s.resources.resourceNames: Invalid value: using resourceNames requires at least one resource" % at)
        for j, stage in enumerate(rule.get("omitStages") or []):
            if stage not in stages:
                errors.append("%s.omitStages[%d]: Invalid value: %r: allowed stages are %s" % (at, j, stage, ",".join(stages)))
        if rule.get("nonResourceURLs") and (rule.get("resources") or rule.get("namespaces")):
            errors.append("%s.nonResourceURLs: Invalid value: rules cannot apply to both regular resources and non-resource URLs" % at)
    if errors:
        raise Refusal("%s: %s" % (path, "; ".join(errors)))


def check_kubeconfig(path, config):
    """What client-go's clientcmd refuses when a component loads its kubeconfig."""
    def named(section, inner):
        out = {}
        for entry in config.get(section) or []:
            out[entry.get("name")] = entry.get(inner) or {}
        return out
    clusters, users, contexts = named("clusters", "cluster"), named("users", "user"), named("contexts", "context")
    current = config.get("current-context") or ""
    if not current:
        raise Refusal("%s: invalid configuration: no current-context is set" % path)
    if current not in contexts:
        raise Refusal("%s: invalid configuration: context was not found for specified context: %s" % (path, current))
    context = contexts[current]
    if context.get("cluster") not in clusters:
        raise Refusal("%s: invalid configuration: cluster %r of context %r is not defined" % (path, context.get("cluster"), current))
    if context.get("user") and context.get("user") not in users:
        raise Refusal("%s: invalid configuration: user %r of context %r is not defined" % (path, context.get("user"), current))
    cluster = clusters[context["cluster"]]
    if not cluster.get("server"):
        raise Refusal("%s: invalid configuration: no server found for cluster %r" % (path, context["cluster"]))


# Which flags name which kind of file, per component.
FILE_FLAGS = {
    "kube-apiserver": {"audit-policy-file": "Policy", "encryption-provider-config": "EncryptionConfiguration",
                       "admission-control-config-file": "AdmissionConfiguration"},
    "kube-controller-manager": {"kubeconfig": "Config", "authentication-kubeconfig": "Config", "authorization-kubeconfig": "Config"},
    "kube-scheduler": {"kubeconfig": "Config", "authentication-kubeconfig": "Config", "authorization-kubeconfig": "Config"},
    "kubelet": {"config": "KubeletConfiguration", "kubeconfig": "Config", "bootstrap-kubeconfig": "Config"},
    "kube-proxy": {"config": "KubeProxyConfiguration", "kubeconfig": "Config"},
}
OPTIONAL_FILES = {("kubelet", "kubeconfig")}  # written by TLS bootstrap when --bootstrap-kubeconfig is given


def check_invocation(name, version, argv, root="", warn=None):
    """Everything the stand-in verifies before serving, without side effects: flags, then every file a flag
    names (paths resolved under `root`). Returns (flag values, {flag: decoded document})."""
    warn = warn or say
    table, schemas = load_data(name, version)
    values = parse_flags(argv, table, warn)
    documents = {}
    for flag, kind in FILE_FLAGS.get(name, {}).items():
        path = last(values, flag)
        if not path:
            continue
        local = root + path if root else path
        if (name, flag) in OPTIONAL_FILES and last(values, "bootstrap-kubeconfig") and not os.path.exists(local):
            continue
        documents[flag] = check_document(local, kind, schemas, warn)
    if name == "kube-proxy" and "config" in documents:
        inner = ((documents["config"].get("clientConnection") or {}).get("kubeconfig")) or ""
        if inner:
            documents["clientConnection.kubeconfig"] = check_document(root + inner if root else inner, "Config", schemas, warn)
    if name == "kube-apiserver":
        check_oidc(values, root)
    settings = []
    config_gates = (documents.get("config") or {}).get("featureGates") if name in ("kubelet", "kube-proxy") else None
    for gate, value in (config_gates or {}).items():
        settings.append((gate, value))
    for text in values.get("feature-gates", []):
        settings.extend((gate, GO_BOOL[value]) for gate, value in pairs(text, "=", "[component:]Name=bool"))
    if settings:
        check_feature_gates(settings, load_gates(version), table["flags"].get("feature-gates", {}).get("type") == "featureGates" and minor_of(version) >= 32)
    return values, documents


def check_oidc(values, root):
    """The API server's OIDC options as it checks them at start: issuer and client ID together
    (BuiltInAuthenticationOptions.Validate), an https issuer (the OIDC authenticator refuses another scheme),
    and a readable PEM CA when --oidc-ca-file is given."""
    issuer, client, ca = last(values, "oidc-issuer-url"), last(values, "oidc-client-id"), last(values, "oidc-ca-file")
    if bool(issuer) != bool(client):
        raise Refusal("oidc-issuer-url and oidc-client-id must be specified together")
    if issuer and not issuer.startswith("https://"):
        raise Refusal("'oidc-issuer-url' (%r) has invalid scheme (%r), require 'https'" % (issuer, issuer.split(":", 1)[0]))
    if ca:
        local = root + ca if root else ca
        if not os.path.isfile(local) or "-----BEGIN CERTIFICATE-----" not in open(local, errors="replace").read():
            raise Refusal("--oidc-ca-file %s: no PEM certificate there" % ca)


def embed(name, version):
    """This script with `name`'s flag table, the version's schemas and feature gates written into EMBEDDED."""
    table, schemas = load_data(name, version)
    with open(os.path.abspath(__file__)) as f:
        source = f.read()
    data = json.dumps({"flags": table, "schemas": schemas, "gates": load_gates(version)}, separators=(",", ":"), sort_keys=True)
    source = source.replace("\nEMBEDDED = None\n", "\nEMBEDDED = json.loads(%r)\n" % data, 1)
    return source.replace('VERSION = "@VERSION@"', 'VERSION = "%s"' % version.lstrip("v"), 1)


def tool(argv):
    """`k8s-standin.py check NAME VERSION [--root DIR] -- ARGS...`: check an invocation without serving.
    `k8s-standin.py check-file VERSION KIND PATH`: check one configuration file.
    `k8s-standin.py check-batch`: many `check`s at once, as JSON on stdin and stdout.
    `k8s-standin.py embed NAME VERSION`: print the installable stand-in for NAME at VERSION."""
    global NAME
    try:
        if argv[:1] == ["check"] and len(argv) >= 3:
            NAME = argv[1]
            rest = argv[3:]
            root = ""
            if rest[:1] == ["--root"]:
                root, rest = rest[1].rstrip("/"), rest[2:]
            if rest[:1] == ["--"]:
                rest = rest[1:]
            check_invocation(argv[1], argv[2], rest, root)
            say("check passed: %s %s" % (argv[1], " ".join(rest)))
            return 0
        if argv[:1] == ["check-file"] and len(argv) == 4:
            NAME = "check-file"
            _, schemas = load_data("kube-apiserver", argv[1])
            check_document(argv[3], argv[2], schemas, say)
            say("check passed: %s" % argv[3])
            return 0
        if argv == ["check-batch"]:
            # One process for many invocations: [{binary, version, root, arguments}] on stdin → [{status, stderr}].
            results = []
            for job in json.load(sys.stdin):
                lines = []
                try:
                    check_invocation(job["binary"], job["version"], job["arguments"], job.get("root", ""), lines.append)
                    results.append({"status": 0, "stderr": "\n".join(lines)})
                except Refusal as refusal:
                    results.append({"status": 1, "stderr": "\n".join(lines + ["Error: %s" % refusal])})
            json.dump(results, sys.stdout)
            return 0
        if argv[:1] == ["embed"] and len(argv) == 3:
            sys.stdout.write(embed(argv[1], argv[2]))
            return 0
    except Refusal as refusal:
        sys.stderr.write("Error: %s\n" % refusal)
        return 1
    sys.stderr.write(tool.__doc__ + "\n")
    return 2


# ------------------------------------------------------------------ runtime checks (files, TLS, peers)

PEM_FLAGS = {
    "kube-apiserver": ["client-ca-file", "tls-cert-file", "tls-private-key-file", "kubelet-client-certificate",
                       "kubelet-client-key", "etcd-cafile", "etcd-certfile", "etcd-keyfile", "service-account-key-file",
                       "service-account-signing-key-file", "proxy-client-cert-file", "proxy-client-key-file",
                       "requestheader-client-ca-file", "audit-policy-file"],
    "kube-controller-manager": ["client-ca-file", "requestheader-client-ca-file", "cluster-signing-cert-file",
                                "cluster-signing-key-file", "root-ca-file", "service-account-private-key-file"],
    "kube-scheduler": [],
    "kubelet": ["config"],
    "kube-proxy": ["config"],
    "kubectl": [],
}
STANDIN_DIR = "/etc/capstan-standin"
KUBECTL_LOG = os.environ.get("CAPSTAN_STANDIN_KUBECTL_LOG", "/var/log/capstan-standin/kubectl.log")
HEALTH_PORTS = {"kube-controller-manager": 10257, "kube-scheduler": 10259}
PAIRS = [("tls-cert-file", "tls-private-key-file"), ("kubelet-client-certificate", "kubelet-client-key"),
         ("etcd-certfile", "etcd-keyfile"), ("proxy-client-cert-file", "proxy-client-key-file"),
         ("cluster-signing-cert-file", "cluster-signing-key-file")]
KUBECONFIG_FLAGS = ["kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig"]


def fail(message):
    sys.stderr.write("%s (Capstan stand-in): %s\n" % (NAME, message))
    sys.exit(1)


def say(message):
    sys.stderr.write("%s (Capstan stand-in): %s\n" % (NAME, message))
    sys.stderr.flush()


def require_file(flag, path):
    if not path:
        fail("--%s is empty" % flag)
    if not os.path.isfile(path):
        fail("--%s=%s: no such file" % (flag, path))


def check_pair(cert, key, what):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as error:
        fail("%s: certificate %s and key %s do not match or cannot be read: %s" % (what, cert, key, error))


def check_ca(path, what):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, OSError) as error:
        fail("%s: %s is not a PEM CA bundle: %s" % (what, path, error))


class Kubeconfig:
    """A kubeconfig's server, CA data and embedded client pair, written out for the TLS checks."""

    def __init__(self, path, flag, document):
        self.path = path
        contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or []}
        clusters = {c.get("name"): c.get("cluster") or {} for c in document.get("clusters") or []}
        users = {u.get("name"): u.get("user") or {} for u in document.get("users") or []}
        context = contexts[document["current-context"]]
        cluster, user = clusters[context["cluster"]], users.get(context.get("user"), {})
        self.server = cluster["server"]
        self.files = tempfile.mkdtemp(prefix="capstan-standin-")
        self.ca = self._embedded(cluster, "certificate-authority-data", "ca.crt", flag)
        self.cert = self._embedded(user, "client-certificate-data", "client.crt", flag)
        self.key = self._embedded(user, "client-key-data", "client.key", flag)
        check_ca(self.ca, "--%s=%s certificate-authority-data" % (flag, path))
        check_pair(self.cert, self.key, "--%s=%s client credentials" % (flag, path))

    def _embedded(self, section, key, name, flag):
        value = section.get(key)
        if not value:
            fail("--%s=%s: no %s" % (flag, self.path, key))
        target = os.path.join(self.files, name)
        with open(target, "wb") as out:
            out.write(base64.b64decode(value))
        return target


def check_etcd(flags):
    servers = [s for s in flags.get("etcd-servers", "").split(",") if s]
    if not servers:
        fail("--etcd-servers is empty")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=flags["etcd-cafile"])
    context.load_cert_chain(flags["etcd-certfile"], flags["etcd-keyfile"])
    for server in servers:
        url = urllib.parse.urlparse(server)
        deadline = time.time() + float(os.environ.get("CAPSTAN_STANDIN_ETCD_WAIT", "30"))
        while True:
            try:
                with socket.create_connection((url.hostname, url.port or 2379), timeout=5) as raw:
                    with context.wrap_socket(raw, server_hostname=url.hostname) as tls:
                        tls.sendall(b"GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % url.hostname.encode())
                        answer = b""
                        while True:
                            chunk = tls.recv(4096)
                            if not chunk:
                                break
                            answer += chunk
                if b" 200 " in answer.split(b"\r\n", 1)[0] and b'"health":"true"' in answer:
                    say("etcd %s healthy with client certificate %s" % (server, flags["etcd-certfile"]))
                    break
                error = "answered %r" % answer[:200]
            except (OSError, ssl.SSLError) as exc:
                error = str(exc)
            if time.time() > deadline:
                fail("cannot reach etcd %s with --etcd-certfile=%s: %s" % (server, flags["etcd-certfile"], error))
            time.sleep(1)


def probe_api(kubeconfig, what, quiet=False):
    """GET /livez on the kubeconfig's server with its CA and client certificate, until it answers 200."""
    deadline = time.time() + float(os.environ.get("CAPSTAN_STANDIN_API_WAIT", "60"))
    while True:
        try:
            status, _ = api_get(kubeconfig, "/livez")
            if " 200 " in status + " ":
                if not quiet:
                    say("API server %s accepts %s" % (kubeconfig.server, what))
                return
            error = "answered %r" % status
        except (OSError, ssl.SSLError) as exc:
            error = str(exc)
        if time.time() > deadline:
            fail("cannot reach the API server %s with %s: %s" % (kubeconfig.server, what, error))
        time.sleep(1)


# The API server's loaded --encryption-provider-config as `encryption_of` reads it (the API server only).
ENCRYPTION = None
# The service-account keys loaded (API server, controller manager), as `service_account_keys` reads them.
SERVICE_ACCOUNTS = None


def pem_fingerprints(path):
    """SHA-256 of each PEM block's DER in `path`, in file order."""
    text = open(path).read()
    blocks = re.findall(r"-----BEGIN [A-Z ]+-----(.*?)-----END [A-Z ]+-----", text, re.S)
    return [hashlib.sha256(base64.b64decode("".join(b.split()))).hexdigest() for b in blocks]


def public_fingerprint(private_key_path):
    """SHA-256 of the DER public key of a PEM private key (what a verifier holds for it)."""
    der = subprocess.run(["openssl", "pkey", "-in", private_key_path, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def service_account_keys(flags):
    """What the component signs service-account tokens with and what the API server verifies them with."""
    facts = {}
    signing = flags.get("service-account-signing-key-file") or flags.get("service-account-private-key-file")
    if signing:
        facts["signing"] = public_fingerprint(signing)
    if flags.get("service-account-key-file"):
        facts["verifying"] = pem_fingerprints(flags["service-account-key-file"])
    return facts


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] in ("/livez", "/readyz", "/healthz"):
            body = b"ok"
            self.send_response(200)
        elif self.path == "/capstan-standin/service-accounts" and SERVICE_ACCOUNTS is not None:
            # A stand-in endpoint: fingerprints of the service-account keys this process loaded at start.
            body = json.dumps(SERVICE_ACCOUNTS, sort_keys=True).encode()
            self.send_response(200)
        elif self.path == "/capstan-standin/encryption" and ENCRYPTION is not None:
            # A stand-in endpoint (the real API server has none): what it encrypts Secrets with, for the
            # kubectl stand-in to record per Secret it writes, as etcd would hold them.
            body = json.dumps(ENCRYPTION, sort_keys=True).encode()
            self.send_response(200)
        else:
            body = b"Capstan stand-in: only /livez, /readyz and /healthz are served\n"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(address, port, tls=None):
    server = http.server.ThreadingHTTPServer((address, port), Health)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    say("serving /livez, /readyz and /healthz on %s:%d%s" % (address, port, " over TLS" if tls else ""))
    return server


def api_get(kubeconfig, path):
    """GET `path` on the kubeconfig's server with its CA and client certificate: (status line, body)."""
    url = urllib.parse.urlparse(kubeconfig.server)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=kubeconfig.ca)
    context.load_cert_chain(kubeconfig.cert, kubeconfig.key)
    with socket.create_connection((url.hostname, url.port or 443), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=url.hostname) as tls:
            tls.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            data = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body


def writer_of(kubeconfig):
    """The provider and key the API server of --kubeconfig writes Secrets with."""
    config = load_kubeconfig(kubeconfig, "kubeconfig")
    try:
        status, body = api_get(config, "/capstan-standin/encryption")
    finally:
        shutil.rmtree(config.files, ignore_errors=True)
    if " 200 " not in status + " ":
        fail("the API server of %s did not say how it encrypts Secrets: %s" % (kubeconfig, status))
    return json.loads(body)["writer"]


def kubectl_authenticate(kubeconfig):
    """What every kubectl call does first: reach the API server of --kubeconfig with its client certificate."""
    if not kubeconfig:
        fail("--kubeconfig is required")
    config = load_kubeconfig(kubeconfig, "kubeconfig")
    try:
        probe_api(config, "the client certificate in --kubeconfig", quiet=True)
    finally:
        shutil.rmtree(config.files, ignore_errors=True)


def kubectl(argv):
    """The calls Capstan's upgrade makes: version --client, cordon, uncordon, drain."""
    words_only = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] != "--kubeconfig")]
    if words_only and words_only[0] in OBJECT_VERBS:
        verb = words_only[0]
        return kubectl_objects([verb] + argv[:argv.index(verb)] + argv[argv.index(verb) + 1:])
    if argv[:2] == ["version", "--client"]:
        print("Client Version: v%s (Capstan stand-in for kubectl, not the real binary)" % VERSION)
        return
    kubeconfig, words, flags = None, [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--kubeconfig" and i + 1 < len(argv):
            kubeconfig, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--kubeconfig="):
            kubeconfig = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            flags.append(arg)
        else:
            words.append(arg)
        i += 1
    if len(words) != 2 or words[0] not in ("cordon", "uncordon", "drain"):
        fail("only `version --client` and `cordon|uncordon|drain NODE` are answered, not %r" % " ".join(argv))
    verb, node = words
    kubectl_authenticate(kubeconfig)
    if node in deleted_nodes():
        fail('Error from server (NotFound): nodes "%s" not found' % node)
    os.makedirs(os.path.dirname(KUBECTL_LOG), exist_ok=True)
    with open(KUBECTL_LOG, "a") as log:
        log.write("%.3f %s %s %s\n" % (time.time(), verb, node, " ".join(flags)))
    if verb == "drain":
        blocked = os.path.join(STANDIN_DIR, "pdb-blocked")
        names = open(blocked).read().split() if os.path.isfile(blocked) else []
        if node in names and "--disable-eviction" not in flags:
            timeout = next((f.split("=", 1)[1] for f in flags if f.startswith("--timeout=")), "0s")
            seconds = float(timeout.rstrip("s") or "0")
            print("node/%s already cordoned" % node)
            time.sleep(min(seconds, 600))
            sys.stderr.write('error when evicting pods/"guarded-0" -n "default" (will retry after 5s): Cannot evict pod as it would violate '
                             "the pod's disruption budget.\nThere are pending pods in node %r when an error occurred: "
                             "global timeout reached: %s\nerror: unable to drain node %r (Capstan stand-in: %s lists it)\n"
                             % (node, timeout, node, blocked))
            sys.exit(1)
        print("node/%s drained" % node)
    else:
        print("node/%s %sed" % (node, verb))


OBJECT_VERBS = ("apply", "diff", "get", "delete", "replace")
OBJECT_STORE = os.environ.get("CAPSTAN_STANDIN_OBJECTS", "/var/lib/capstan-standin/objects.json")
# The flags each object verb takes as Capstan calls it (value flags map to True); anything else is refused
# the way kubectl refuses an unknown flag.
OBJECT_FLAGS = {
    "apply": {"--server-side": False, "--field-manager": True, "--force-conflicts": False, "-f": True, "--filename": True},
    "diff": {"--server-side": False, "--field-manager": True, "--force-conflicts": False, "-f": True, "--filename": True},
    "get": {"--all-namespaces": False, "-A": False, "-l": True, "--selector": True, "-o": True, "--output": True,
            "--ignore-not-found": False},
    "delete": {"--ignore-not-found": False, "--namespace": True, "-n": True},
    "replace": {"-f": True, "--filename": True},
}
# How each stored Secret is held at rest: the provider and key of the API server that wrote it last
# ("identity" for plain text), as etcd would hold it; `kubectl replace` of a Secret rewrites it.
AT_REST = OBJECT_STORE + ".at-rest"


# The stand-in API server keeps no Node objects: every node is taken to exist (its kubelet registered)
# until `kubectl delete node NAME` deletes it; the names deleted are kept here, beside the object store.
DELETED_NODES = os.path.join(os.path.dirname(OBJECT_STORE), "deleted-nodes")


def deleted_nodes():
    return open(DELETED_NODES).read().split() if os.path.isfile(DELETED_NODES) else []


def kubectl_node(verb, name, flags, log_lines):
    """`get node NAME [--ignore-not-found] -o name` and `delete node NAME [--ignore-not-found]`."""
    gone = name in deleted_nodes()
    if gone and "--ignore-not-found" not in flags:
        fail('Error from server (NotFound): nodes "%s" not found' % name)
    if verb == "get":
        if flags.get("-o", flags.get("--output")) != "name":
            fail("error: the stand-in answers `get node NAME -o name` only")
        if not gone:
            print("node/%s" % name)
        log_lines.append("get node/%s %s" % (name, "absent" if gone else "present"))
    elif not gone:
        os.makedirs(os.path.dirname(DELETED_NODES), exist_ok=True)
        with open(DELETED_NODES, "a") as f:
            f.write(name + "\n")
        print('node "%s" deleted' % name)
        log_lines.append("delete node/%s" % name)
    return 0


def object_key(obj):
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    meta = obj["metadata"]
    return "%s|%s|%s|%s" % (group, obj["kind"], meta.get("namespace", ""), meta["name"])


def resource_matches(spec, obj):
    """`deployments.apps`, `deployment.apps`, `configmaps`, `configmap` against an object's kind and group."""
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    name, _, want_group = spec.partition(".")
    kind = obj["kind"].lower()
    return name in (kind, kind + "s") and want_group == group


def kubectl_objects(argv):
    """apply / diff / get / delete for Capstan's cluster objects. The stand-in API server keeps no objects,
    so this host's object store (CAPSTAN_STANDIN_OBJECTS, JSON) plays etcd; every call is logged with the
    objects it touched, so tests can assert the exact requests."""
    import difflib
    import json
    verb, rest = argv[0], argv[1:]
    allowed = OBJECT_FLAGS[verb]
    kubeconfig, flags, words = None, {}, []
    i = 0
    while i < len(rest):
        arg = rest[i]
        name, eq, value = arg.partition("=")
        if name == "--kubeconfig":
            kubeconfig, i = (value, i + 1) if eq else (rest[i + 1] if i + 1 < len(rest) else None, i + 2)
            continue
        if arg.startswith("-") and arg != "-":
            if name not in allowed:
                fail("error: unknown flag: %s (Capstan stand-in for kubectl %s)" % (name, verb))
            if allowed[name] and not eq:
                if i + 1 >= len(rest):
                    fail("error: flag needs an argument: %s" % name)
                value, i = rest[i + 1], i + 1
            flags[name] = value if allowed[name] else True
        else:
            words.append(arg)
        i += 1
    kubectl_authenticate(kubeconfig)
    store = {}
    if os.path.isfile(OBJECT_STORE):
        with open(OBJECT_STORE) as f:
            store = json.load(f)
    log_lines = []

    def save():
        os.makedirs(os.path.dirname(OBJECT_STORE), exist_ok=True)
        with open(OBJECT_STORE + ".tmp", "w") as f:
            json.dump(store, f, sort_keys=True)
        os.replace(OBJECT_STORE + ".tmp", OBJECT_STORE)

    if verb in ("get", "delete") and len(words) == 2 and words[0] in ("node", "nodes"):
        exit_code = kubectl_node(verb, words[1], flags, log_lines)
    elif verb in ("apply", "diff"):
        if flags.get("-f", flags.get("--filename")) != "-":
            fail("error: must specify -f - (the stand-in reads objects from stdin only)")
        if "--server-side" not in flags:
            fail("error: Capstan applies server-side; --server-side missing")
        manager = flags.get("--field-manager")
        if not manager:
            fail("error: --field-manager is required for server-side apply by Capstan")
        try:
            document = json.loads(sys.stdin.read())
        except ValueError as e:
            fail("error: error parsing -: %s" % e)
        items = document["items"] if document.get("kind") == "List" else [document]
        for obj in items:
            if not obj.get("apiVersion") or not obj.get("kind") or not obj.get("metadata", {}).get("name"):
                fail("error: an object is missing apiVersion, kind or metadata.name: %s" % json.dumps(obj)[:200])
        changed = False
        for obj in items:
            key = object_key(obj)
            old = store.get(key)
            if old != obj:
                changed = True
                if verb == "diff":
                    before = json.dumps(old, indent=2, sort_keys=True).splitlines() if old else []
                    after = json.dumps(obj, indent=2, sort_keys=True).splitlines()
                    label = key.replace("|", "/")
                    sys.stdout.write("\n".join(difflib.unified_diff(before, after, "live/" + label, "merged/" + label, lineterm="")) + "\n")
            if verb == "apply":
                store[key] = obj
                print("%s/%s serverside-applied" % (obj["kind"].lower(), obj["metadata"]["name"]))
                log_lines.append("apply %s manager=%s" % (key.replace("|", "/"), manager))
        if verb == "apply":
            save()
            record_at_rest([object_key(obj) for obj in items if obj["kind"] == "Secret" and obj["apiVersion"] == "v1"], kubeconfig)
        else:
            log_lines.append("diff %d object(s) %s" % (len(items), "changed" if changed else "unchanged"))
        exit_code = 1 if verb == "diff" and changed else 0
    elif verb == "replace":
        # kubectl replace -f - with what `get -o json` returned: every object must exist, and must be
        # unchanged since it was read (metadata.resourceVersion, which the stand-in models as the stored
        # object's content); the API server re-encrypts each Secret with its current writer.
        if flags.get("-f", flags.get("--filename")) != "-":
            fail("error: must specify -f - (the stand-in reads objects from stdin only)")
        try:
            document = json.loads(sys.stdin.read())
        except ValueError as e:
            fail("error: error parsing -: %s" % e)
        items = document["items"] if document.get("kind") == "List" else [document]
        for obj in items:
            key = object_key(obj)
            if key not in store:
                fail('Error from server (NotFound): error when replacing "STDIN": %s "%s" not found' % (obj["kind"].lower() + "s", obj["metadata"]["name"]))
            if store[key] != obj:
                fail('Error from server (Conflict): error when replacing "STDIN": Operation cannot be fulfilled on %s "%s": the object has been modified; please apply your changes to the latest version and try again'
                     % (obj["kind"].lower() + "s", obj["metadata"]["name"]))
        for obj in items:
            print("%s/%s replaced" % (obj["kind"].lower(), obj["metadata"]["name"]))
            log_lines.append("replace %s" % object_key(obj).replace("|", "/"))
        record_at_rest([object_key(obj) for obj in items if obj["kind"] == "Secret" and obj["apiVersion"] == "v1"], kubeconfig)
        exit_code = 0
    elif verb == "get":
        if len(words) != 1 or flags.get("-o", flags.get("--output")) != "json":
            fail("error: the stand-in answers `get KINDS [-A] [-l SELECTOR] -o json` only")
        kinds = words[0].split(",")
        selector = flags.get("-l", flags.get("--selector"))
        want = dict(part.split("=", 1) for part in selector.split(",")) if selector else {}
        found = [obj for obj in store.values()
                 if any(resource_matches(k, obj) for k in kinds)
                 and all(obj["metadata"].get("labels", {}).get(k) == v for k, v in want.items())]
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": found}, sort_keys=True))
        log_lines.append("get %s %s" % (words[0], selector or ""))
        exit_code = 0
    else:
        if len(words) != 2:
            fail("error: the stand-in answers `delete RESOURCE NAME [--namespace NS] [--ignore-not-found]` only")
        spec, name = words
        namespace = flags.get("--namespace", flags.get("-n", ""))
        keys = [k for k, obj in store.items() if resource_matches(spec, obj) and obj["metadata"]["name"] == name
                and obj["metadata"].get("namespace", "") == namespace]
        if not keys and "--ignore-not-found" not in flags:
            fail('Error from server (NotFound): %s "%s" not found' % (spec, name))
        for k in keys:
            del store[k]
            print('%s "%s" deleted' % (spec, name))
            log_lines.append("delete %s" % k.replace("|", "/"))
        save()
        exit_code = 0
    os.makedirs(os.path.dirname(KUBECTL_LOG), exist_ok=True)
    with open(KUBECTL_LOG, "a") as log:
        for line in log_lines:
            log.write("%.3f %s\n" % (time.time(), line))
    sys.exit(exit_code)


def record_at_rest(keys, kubeconfig):
    import json
    if not keys:
        return
    writer = writer_of(kubeconfig)
    held = {}
    if os.path.isfile(AT_REST):
        with open(AT_REST) as f:
            held = json.load(f)
    for key in keys:
        held[key] = writer
    with open(AT_REST + ".tmp", "w") as f:
        json.dump(held, f, sort_keys=True)
    os.replace(AT_REST + ".tmp", AT_REST)


def load_kubeconfig(path, flag, document=None):
    """The kubeconfig at `path` (already decoded when `document` is given), checked as clientcmd checks it."""
    require_file(flag, path)
    try:
        if document is None:
            document = read_document(path) or {}
            check_kubeconfig(path, document)
    except Refusal as refusal:
        fail("--%s: %s" % (flag, refusal))
    return Kubeconfig(path, flag, document)


def main():
    global ENCRYPTION, SERVICE_ACCOUNTS
    if len(sys.argv) > 1 and NAME in ("k8s-standin.py", "k8s-standin"):
        sys.exit(tool(sys.argv[1:]))
    if NAME not in PEM_FLAGS:
        fail("unknown component name (install this file as one of %s)" % ", ".join(sorted(PEM_FLAGS)))
    if NAME == "kubectl":
        kubectl(sys.argv[1:])
        return
    # Flags and configuration files first, as strictly as the real binary parses them: a refusal here exits 1
    # with the real binary's wording, so the systemd unit fails the way it would.
    try:
        values, documents = check_invocation(NAME, VERSION, sys.argv[1:])
    except Refusal as refusal:
        sys.stderr.write("Error: %s\n" % refusal)
        sys.stderr.write("%s (Capstan stand-in): refused as the real %s %s would refuse it\n" % (NAME, NAME, VERSION))
        sys.exit(1)
    if GO_BOOL.get(last(values, "version", "false"), True):
        print("Kubernetes v%s (Capstan stand-in for %s, not the real binary)" % (VERSION, NAME))
        return
    if GO_BOOL.get(last(values, "help", "false")):
        print("%s (Capstan stand-in): flags as Sources/Inventory/KubernetesFlags/%s-%s.json lists them" % (NAME, NAME, ".".join(VERSION.split(".")[:2])))
        return
    told = os.path.join(STANDIN_DIR, "fail-%s-%s" % (NAME, VERSION))
    if os.path.exists(told):
        fail("told to fail at start by %s (a test hook)" % told)
    flags = {name: given[-1] for name, given in values.items()}
    for flag in PEM_FLAGS[NAME]:
        if flag in flags:
            require_file(flag, flags[flag])
        elif NAME == "kube-apiserver" or flag == "config":
            fail("--%s is required" % flag)
    for cert, key in PAIRS:
        if cert in flags or key in flags:
            require_file(cert, flags.get(cert, ""))
            require_file(key, flags.get(key, ""))
            check_pair(flags[cert], flags[key], "--%s/--%s" % (cert, key))
    for flag in ("client-ca-file", "etcd-cafile", "requestheader-client-ca-file", "root-ca-file"):
        if flag in flags:
            check_ca(flags[flag], "--" + flag)
    kubeconfigs = {flag: load_kubeconfig(flags[flag], flag, documents.get(flag))
                   for flag in KUBECONFIG_FLAGS if flag in flags and (flag in documents or NAME != "kubelet")}
    servers = []

    if NAME == "kube-apiserver":
        ENCRYPTION = encryption_of(documents.get("encryption-provider-config"))
        SERVICE_ACCOUNTS = service_account_keys(flags)
        check_etcd(flags)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(flags["tls-cert-file"], flags["tls-private-key-file"])
        tls.load_verify_locations(cafile=flags["client-ca-file"])
        tls.verify_mode = ssl.CERT_OPTIONAL
        servers.append(serve(flags.get("bind-address", "0.0.0.0"), go_int(str(flags.get("secure-port", 6443)), "int"), tls))
    elif NAME in ("kube-controller-manager", "kube-scheduler"):
        if NAME == "kube-controller-manager":
            SERVICE_ACCOUNTS = service_account_keys(flags)
        if "kubeconfig" not in kubeconfigs:
            fail("--kubeconfig is required")
        probe_api(kubeconfigs["kubeconfig"], "the client certificate in --kubeconfig")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(kubeconfigs["kubeconfig"].cert, kubeconfigs["kubeconfig"].key)
        servers.append(serve(flags.get("bind-address", "127.0.0.1"), go_int(str(flags.get("secure-port", HEALTH_PORTS[NAME])), "int"), tls))
    elif NAME == "kubelet":
        config = documents["config"]
        path = ((config.get("authentication") or {}).get("x509") or {}).get("clientCAFile")
        if not path or not os.path.isfile(path):
            fail("--config=%s: authentication.x509.clientCAFile %r is not a file" % (flags["config"], path))
        endpoint = config.get("containerRuntimeEndpoint") or ""
        if not endpoint.startswith("unix://"):
            fail("--config=%s: containerRuntimeEndpoint %r is not a unix socket URL" % (flags["config"], endpoint))
        cert, key = config.get("tlsCertFile"), config.get("tlsPrivateKeyFile")
        if cert or key:
            # The real kubelet serves its API on 10250 with this pair (else with a self-signed one).
            require_file("config=%s: tlsCertFile" % flags["config"], cert or "")
            require_file("config=%s: tlsPrivateKeyFile" % flags["config"], key or "")
            check_pair(cert, key, "--config=%s tlsCertFile/tlsPrivateKeyFile" % flags["config"])
            serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            serving.load_cert_chain(cert, key)
            servers.append(serve("0.0.0.0", 10250, serving))
        if "bootstrap-kubeconfig" in flags:
            say("TLS bootstrap configured with %s (not exercised by the stand-in)" % flags["bootstrap-kubeconfig"])
        elif "kubeconfig" in kubeconfigs:
            probe_api(kubeconfigs["kubeconfig"], "the node's client certificate")
        else:
            fail("--kubeconfig or --bootstrap-kubeconfig is required")
        servers.append(serve("127.0.0.1", 10248))
    elif NAME == "kube-proxy":
        path = (documents["config"].get("clientConnection") or {}).get("kubeconfig")
        if not path:
            fail("--config=%s: clientConnection.kubeconfig is missing" % flags["config"])
        probe_api(load_kubeconfig(path, "config clientConnection.kubeconfig", documents.get("clientConnection.kubeconfig")),
                  "kube-proxy's client certificate")
        servers.append(serve("0.0.0.0", 10256))

    say("all checks passed")
    if not servers:
        threading.Event().wait()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    threading.Event().wait()


def stop(signum, frame):
    sys.exit(0)


if __name__ == "__main__":
    # A parent may have blocked or ignored these; systemd stops units with SIGTERM.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        main()
    except KeyboardInterrupt:
        pass
