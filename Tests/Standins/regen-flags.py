#!/usr/bin/env python3
"""Regenerates the strict stand-in's data from upstream Kubernetes sources.

    Tests/Standins/regen-flags.py MIRRORS [--minors 29,30,31,32]

MIRRORS is a directory of bare git snapshots named OWNER+NAME/repo (the layout the snapshot tool
writes), holding the published Kubernetes repositories at their release tags: kubernetes/apiserver,
component-base, controller-manager, cloud-provider, kubelet, kube-proxy, client-go, apimachinery and api
(tags v0.MINOR.0). With kubernetes+kubernetes/repo present as well, the flags defined in the main
repository (cmd/…/app/options, pkg/kubeapiserver/options, pkg/controlplane/apiserver/options) are read
there at tag v1.MINOR.0. Without it they come from Sources/Inventory/KubernetesFlags/sources/kubernetes-kubernetes.json, facts read
out of one recorded revision of each of those files (the main repository is larger than snapshots may be
here), applied to every minor and marked "tagPinned": false.

Writes, per binary and minor, Sources/Inventory/KubernetesFlags/<binary>-1.<minor>.json: every flag the binary accepts with its value
type, shorthand and deprecation message, and for each the repository, ref and path it was read from. And
per minor, Sources/Inventory/KubernetesSchemas/1.<minor>.json: the Go types of the configuration files Capstan renders
(KubeletConfiguration, KubeProxyConfiguration, audit Policy, AdmissionConfiguration,
EncryptionConfiguration, kubeconfig), field names from their json tags, with the same provenance.

Only facts are extracted (names, types, deprecations); no upstream code is copied.
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = os.path.join(HERE, "..", "..", "Sources", "Inventory", "KubernetesFlags")
SCHEMAS = os.path.join(HERE, "..", "..", "Sources", "Inventory", "KubernetesSchemas")
MAIN = "kubernetes/kubernetes"


class Mirrors:
    def __init__(self, root):
        self.root = root
        self.cache = {}

    def git_dir(self, repo):
        return os.path.join(self.root, repo.replace("/", "+"), "repo")

    def has(self, repo):
        return os.path.isdir(self.git_dir(repo))

    def show(self, repo, ref, path):
        key = (repo, ref, path)
        if key not in self.cache:
            run = subprocess.run(["git", "--git-dir", self.git_dir(repo), "show", "%s:%s" % (ref, path)],
                                 capture_output=True, text=True)
            self.cache[key] = run.stdout if run.returncode == 0 else None
        return self.cache[key]

    def ls(self, repo, ref, directory):
        run = subprocess.run(["git", "--git-dir", self.git_dir(repo), "ls-tree", "--name-only", "%s:%s" % (ref, directory)],
                             capture_output=True, text=True)
        return run.stdout.split() if run.returncode == 0 else []


def ref_for(repo, minor):
    return "v1.%d.0" % minor if repo == MAIN else "v0.%d.0" % minor


# ---------------------------------------------------------------- Go source reading (facts only)

def strip_comments(src):
    """Go source with comments blanked, string literals kept."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c == '"' or c == "'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif c == "`":
            j = src.index("`", i + 1)
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.index("*/", i + 2)
            out.append("\n" * src.count("\n", i, j))
            i = j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def function_body(src, name):
    """Body of `func (r *Type) Method(` when name is "Type.Method", else of `func Name(`."""
    if "." in name:
        typ, method = name.split(".")
        pattern = r"^func \(\w*\s*\*?%s\) %s\(" % (re.escape(typ), re.escape(method))
    else:
        pattern = r"^func %s\(" % re.escape(name)
    match = re.search(pattern, src, re.MULTILINE)
    if not match:
        return None
    end = re.compile(r"^}", re.MULTILINE).search(src, match.end())
    return src[match.end():end.start() if end else len(src)]


def split_args(text, start):
    """Arguments of the call whose '(' is at text[start]; returns (args, index after ')')."""
    depth, i, args, current = 0, start, [], []
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            quote = c
            j = i + 1
            while j < len(text) and text[j] != quote:
                j += 2 if (text[j] == "\\" and quote != "`") else 1
            if depth >= 1:
                current.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append("".join(current).strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    return args, i


def go_string(expr, constants, format_args):
    """The values a name expression stands for: literals, constants, "a"+"b", fmt.Sprintf with known args."""
    expr = expr.strip()
    literal = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', expr) or re.fullmatch(r"`([^`]*)`", expr)
    if literal:
        return [literal.group(1)]
    if re.fullmatch(r"[\w.]+", expr):
        value = constants.get(expr.split(".")[-1])
        return [value] if value is not None else []
    sprintf = re.fullmatch(r'fmt\.Sprintf\(\s*"([^"]*)"\s*,\s*([\w.]+)\s*\)', expr)
    if sprintf:
        return [sprintf.group(1).replace("%s", arg) for arg in format_args]
    if "+" in expr:
        parts = [go_string(p, constants, format_args) for p in expr.split("+")]
        if all(len(p) == 1 for p in parts):
            return ["".join(p[0] for p in parts)]
    return []


def string_constants(src):
    """name → value of every `Name = "value"` (const or var) in a file."""
    return {m.group(1): m.group(2) for m in re.finditer(r'^\s*(?:const\s+|var\s+)?(\w+)\s*(?:string\s*)?=\s*"([^"]*)"', src, re.MULTILINE)}


TYPED = {"Bool": "bool", "String": "string", "Int": "int", "Int8": "int", "Int16": "int", "Int32": "int32",
         "Int64": "int", "Uint": "uint", "Uint8": "uint", "Uint16": "uint", "Uint32": "uint32", "Uint64": "uint",
         "Float32": "float", "Float64": "float", "Duration": "duration", "StringSlice": "stringSlice",
         "StringArray": "stringArray", "IntSlice": "intSlice", "Int32Slice": "intSlice", "IP": "ip", "IPNet": "cidr",
         "IPSlice": "ipSlice", "StringToString": "mapStringString", "StringToInt": "mapStringInt",
         "BoolSlice": "boolSlice", "DurationSlice": "durationSlice", "IPMask": "string", "Count": "int"}
# Value types given with fs.Var, by what their constructor says; anything else takes any string.
VAR_TYPES = [(r"IPPortVar", "ipPort"), (r"IPVar", "ip"), (r"MapStringBool", "mapStringBool"),
             (r"ColonSeparatedMultimap", "colonMultimap"), (r"MapStringString|ConfigurationMap|LangleSeparated", "mapStringString"),
             (r"NamedCertKey", "namedCertKey"), (r"VerbosityLevel", "uint32"), (r"VModule", "vmodule"),
             (r"InfoBufferSize|Quantity", "quantity"), (r"TriState", "triState"), (r"featureGate|FeatureGate", "mapStringBool"),
             (r"PortRange", "portRange"), (r"Taints?", "taints"), (r"ReservedMemory", "reservedMemory")]
FLAG_CALL = re.compile(r"\b\w+\.(%s|Var)(Var)?(P)?\(" % "|".join(sorted(TYPED, key=len, reverse=True)))
DEPRECATE_CALL = re.compile(r"\b\w+\.MarkDeprecated\(")


def flags_of(src, function, format_args=(), deprecate_all=None):
    """Flags a registration function adds: name → {type, shorthand?, deprecated?}."""
    code = strip_comments(src)
    body = function_body(code, function)
    if body is None:
        raise LookupError("no function %s" % function)
    constants = string_constants(code)
    found = {}
    for match in FLAG_CALL.finditer(body):
        kind, var, short = match.group(1), match.group(2), match.group(3)
        args, _ = split_args(body, match.end() - 1)
        if kind == "Var":
            value, rest = args[0], args[1:]
            kind_name = next((t for pattern, t in VAR_TYPES if re.search(pattern, value)), "value")
        else:
            rest = args[1:] if var else args
            kind_name = TYPED[kind]
        if not rest:
            continue
        names = go_string(rest[0], constants, format_args)
        shorthand = go_string(rest[1], constants, ())[0] if short and len(rest) > 1 and go_string(rest[1], constants, ()) else None
        for name in names:
            # featureGate.Set and the 1.31+ component registry both take [component:]Name=bool pairs.
            entry = {"type": "featureGates" if name == "feature-gates" else kind_name}
            if shorthand:
                entry["shorthand"] = shorthand
            found[name] = entry
    for match in DEPRECATE_CALL.finditer(body):
        args, _ = split_args(body, match.end() - 1)
        for name in go_string(args[0], constants, format_args):
            if name in found:
                message = go_string(args[1], constants, ()) if len(args) > 1 else []
                found[name]["deprecated"] = message[0] if message else "deprecated"
    if deprecate_all:
        for name, entry in found.items():
            if name not in deprecate_all.get("except", []):
                entry.setdefault("deprecated", deprecate_all["message"])
    return found


# ---------------------------------------------------------------- which functions make up each binary

CB, AS, CM, CP = "kubernetes/component-base", "kubernetes/apiserver", "kubernetes/controller-manager", "kubernetes/cloud-provider"
OPT = "pkg/server/options/"
LOGGING = [(CB, "logs/api/v1/options.go", "addFlags"), (CB, "cli/globalflag/globalflags.go", "AddGlobalFlags")]
METRICS = [(CB, "metrics/options.go", "Options.AddFlags")]
SECURE_SERVING = [(AS, OPT + "serving.go", "SecureServingOptions.AddFlags")]
DELEGATING = [(AS, OPT + "authentication.go", "DelegatingAuthenticationOptions.AddFlags"),
              (AS, OPT + "authentication.go", "RequestHeaderAuthenticationOptions.AddFlags"),
              (AS, OPT + "authentication.go", "ClientCertAuthenticationOptions.AddFlags"),
              (AS, OPT + "authorization.go", "DelegatingAuthorizationOptions.AddFlags")]
LEADER = [(CB, "config/options/leaderelectionconfig.go", "BindLeaderElectionFlags")]
KK = MAIN
KUBE_APISERVER_OPTIONS = "pkg/controlplane/apiserver/options/options.go"

FEATURE_GATES = [(CB, "featuregate/feature_gate.go", "featureGate.AddFlag"),
                 (CB, "featuregate/registry.go", "componentGlobalsRegistry.AddFlags"),
                 (AS, "pkg/util/version/registry.go", "componentGlobalsRegistry.AddFlags")]
# The kubelet deprecates every flag that mirrors a KubeletConfiguration field (logging ones included) except these.
KUBELET_CONFIG_FLAGS_KEPT = ["v", "vmodule", "log-flush-frequency", "provider-id"]
KUBELET_DEPRECATES = "kubelet-config"

RECIPES = {
    "kube-apiserver": LOGGING + METRICS + SECURE_SERVING + FEATURE_GATES + [
        (AS, OPT + "server_run_options.go", "ServerRunOptions.AddUniversalFlags"),
        (AS, OPT + "etcd.go", "EtcdOptions.AddFlags"),
        (AS, OPT + "audit.go", "AuditLogOptions.AddFlags"),
        (AS, OPT + "audit.go", "AuditWebhookOptions.AddFlags"),
        (AS, OPT + "audit.go", "AuditOptions.AddFlags"),
        (AS, OPT + "audit.go", "AuditBatchOptions.AddFlags", ("log", "webhook")),
        (AS, OPT + "audit.go", "AuditTruncateOptions.AddFlags", ("log", "webhook")),
        (AS, OPT + "feature.go", "FeatureOptions.AddFlags"),
        (AS, OPT + "admission.go", "AdmissionOptions.AddFlags"),
        (AS, OPT + "api_enablement.go", "APIEnablementOptions.AddFlags"),
        (AS, OPT + "egress_selector.go", "EgressSelectorOptions.AddFlags"),
        (AS, OPT + "tracing.go", "TracingOptions.AddFlags"),
        (AS, OPT + "authentication.go", "RequestHeaderAuthenticationOptions.AddFlags"),
        (AS, OPT + "authentication.go", "ClientCertAuthenticationOptions.AddFlags"),
        (KK, "pkg/controlplane/apiserver/options/options.go", "Options.AddFlags"),
        (KK, "cmd/kube-apiserver/app/options/options.go", "Extra.AddFlags"),
        (KK, "pkg/kubeapiserver/options/authentication.go", "BuiltInAuthenticationOptions.AddFlags"),
        (KK, "pkg/kubeapiserver/options/authorization.go", "BuiltInAuthorizationOptions.AddFlags"),
        (KK, "pkg/kubeapiserver/options/admission.go", "AdmissionOptions.AddFlags"),
        (KK, "pkg/kubeapiserver/options/cloudprovider.go", "CloudProviderOptions.AddFlags"),
    ],
    "kube-controller-manager": LOGGING + METRICS + SECURE_SERVING + DELEGATING + LEADER + FEATURE_GATES + [
        (CM, "options/generic.go", "GenericControllerManagerConfigurationOptions.AddFlags"),
        (CM, "options/debugging.go", "DebuggingOptions.AddFlags"),
        (CP, "options/kubecloudshared.go", "KubeCloudSharedOptions.AddFlags"),
        (CP, "options/cloudprovider.go", "CloudProviderOptions.AddFlags"),
        (CP, "options/servicecontroller.go", "ServiceControllerOptions.AddFlags"),
        (KK, "cmd/kube-controller-manager/app/options/options.go", "KubeControllerManagerOptions.Flags"),
    ],
    "kube-scheduler": LOGGING + METRICS + SECURE_SERVING + DELEGATING + LEADER + FEATURE_GATES + [
        (KK, "cmd/kube-scheduler/app/options/options.go", "Options.initFlags"),
    ],
    "kubelet": [(CB, "logs/api/v1/options.go", "addFlags", (), KUBELET_DEPRECATES),
                (CB, "cli/globalflag/globalflags.go", "AddGlobalFlags"),
                (KK, "cmd/kubelet/app/options/options.go", "KubeletFlags.AddFlags"),
                (KK, "cmd/kubelet/app/options/options.go", "AddKubeletConfigFlags", (), KUBELET_DEPRECATES),
                (KK, "pkg/kubelet/config/flags.go", "ContainerRuntimeOptions.AddFlags")],
    "kube-proxy": LOGGING + [
        (KK, "cmd/kube-proxy/app/options.go", "Options.AddFlags"),
    ],
}
# Flags every Kubernetes command has besides these: --version (component-base/version/verflag).
VERSION_FLAG = (CB, "version/verflag/verflag.go")


def main_repo_facts():
    path = os.path.join(FLAGS, "sources", "kubernetes-kubernetes.json")
    with open(path) as f:
        return json.load(f)


# Values a flag's value (or each comma-separated item) must be one of, and how many items it may have, as the
# real binaries validate them. Enumerations come from constants in the tagged sources where those define them.
ENUM_CONSTANTS = {
    "nodeAddressTypes": ("kubernetes/api", "core/v1/types.go", r"\w+\s+NodeAddressType\s*=\s*\"([^\"]+)\""),
    "taintEffects": ("kubernetes/api", "core/v1/types.go", r"\w+\s+TaintEffect\s*=\s*\"([^\"]+)\""),
    "auditModes": (AS, OPT + "audit.go", r"\bMode\w*\s*=\s*\"([^\"]+)\""),
    "auditLogFormats": (AS, "plugin/pkg/audit/log/backend.go", r"\bFormat\w*\s*=\s*\"([^\"]+)\""),
    "loggingFormats": (CB, "logs/api/v1/types.go", r"\b\w*LogFormat\s*=\s*\"([^\"]+)\""),
}
CHECKS = {
    "kube-apiserver": {"authorization-mode": {"enum": "authorizationModes", "list": True, "unique": True},
                       "enable-admission-plugins": {"enum": "admissionPlugins", "list": True},
                       "disable-admission-plugins": {"enum": "admissionPlugins", "list": True},
                       "admission-control": {"enum": "admissionPlugins", "list": True},
                       "kubelet-preferred-address-types": {"enum": "nodeAddressTypes", "list": True},
                       "service-cluster-ip-range": {"format": "cidr", "list": True, "max": 2},
                       "audit-log-mode": {"enum": "auditModes"}, "audit-webhook-mode": {"enum": "auditModes"},
                       "audit-log-format": {"enum": "auditLogFormats"}},
    "kube-controller-manager": {"cluster-cidr": {"format": "cidr", "list": True, "max": 2},
                                "service-cluster-ip-range": {"format": "cidr", "list": True, "max": 2}},
    "kubelet": {"node-ip": {"format": "ip", "list": True, "max": 2}, "register-with-taints": {"enum": "taintEffects", "taints": True}},
    "kube-proxy": {"proxy-mode": {"enum": "proxyModes"}, "cluster-cidr": {"format": "cidr", "list": True, "max": 2}},
    "kube-scheduler": {},
}
for _binary in CHECKS:
    CHECKS[_binary].setdefault("logging-format", {"enum": "loggingFormats"})


def build_enums(mirrors, minor, facts):
    enums = {}
    for name, (repo, path, pattern) in ENUM_CONSTANTS.items():
        ref = ref_for(repo, minor)
        src = strip_comments(mirrors.show(repo, ref, path) or "")
        values = sorted(set(re.findall(pattern, src)))
        if values:
            enums[name] = {"values": values, "source": {"repository": repo, "ref": ref, "path": path, "tagPinned": True}}
    for name, fact in facts["enums"].items():
        enums[name] = {"values": fact["values"], "source": {"repository": MAIN, "ref": None, "path": fact["path"],
                                                            "tagPinned": False, "readFromSource": fact["read"]}}
    return enums


def build_flags(mirrors, minor, binary, facts):
    flags, sources = {}, []
    for entry in RECIPES[binary]:
        repo, path, function = entry[:3]
        format_args = entry[3] if len(entry) > 3 else ()
        deprecates = entry[4] if len(entry) > 4 else None
        if repo == MAIN and not mirrors.has(MAIN):
            fact = facts["functions"].get("%s:%s" % (path, function))
            if fact is None:
                continue
            source = {"repository": MAIN, "ref": fact["commit"], "path": path, "function": function, "tagPinned": False,
                      "readFromSource": fact["read"]}
            found = {name: dict(value) for name, value in fact["flags"].items()}
        else:
            ref = ref_for(repo, minor)
            src = mirrors.show(repo, ref, path)
            if src is None:
                continue  # that file does not exist at this release
            try:
                found = flags_of(src, function, format_args,
                                 {"message": facts["kubeletConfigDeprecation"], "except": KUBELET_CONFIG_FLAGS_KEPT}
                                 if deprecates == KUBELET_DEPRECATES else None)
            except LookupError:
                continue
            source = {"repository": repo, "ref": ref, "path": path, "function": function, "tagPinned": True}
        index = len(sources)
        sources.append(source)
        for name, value in found.items():
            value["source"] = index
            flags.setdefault(name, value)
    repo, path = VERSION_FLAG
    ref = ref_for(repo, minor)
    if mirrors.show(repo, ref, path) and 'versionFlagName = "version"' in mirrors.show(repo, ref, path):
        sources.append({"repository": repo, "ref": ref, "path": path, "function": "AddFlags", "tagPinned": True})
        flags.setdefault("version", {"type": "versionBool", "source": len(sources) - 1})
    enums = build_enums(mirrors, minor, facts)
    checks = {}
    for flag, check in CHECKS[binary].items():
        if flag in flags:
            check = dict(check)
            if "enum" in check:
                check["values"] = enums[check["enum"]]["values"]
                check["valuesFrom"] = enums[check.pop("enum")]["source"]
            checks[flag] = check
    complete = all(s["tagPinned"] for s in sources)
    return {"binary": binary, "kubernetes": "1.%d" % minor, "complete": complete, "sources": sources,
            "flags": dict(sorted(flags.items())), "checks": checks}


# ---------------------------------------------------------------- configuration file types

KINDS = [
    # (apiVersion, kind, repository, candidate package directories, Go type)
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", "kubernetes/kubelet", ["config/v1beta1"], "KubeletConfiguration", True),
    ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration", "kubernetes/kube-proxy", ["config/v1alpha1"], "KubeProxyConfiguration", True),
    ("audit.k8s.io/v1", "Policy", AS, ["pkg/apis/audit/v1"], "Policy", True),
    ("apiserver.config.k8s.io/v1", "AdmissionConfiguration", AS, ["pkg/apis/apiserver/v1"], "AdmissionConfiguration", True),
    ("apiserver.config.k8s.io/v1", "EncryptionConfiguration", AS, ["pkg/apis/apiserver/v1", "pkg/apis/config/v1"], "EncryptionConfiguration", True),
    ("v1", "Config", "kubernetes/client-go", ["tools/clientcmd/api/v1"], "Config", False),
]
# Types that decode from JSON by their own rules.
SPECIAL = {
    "k8s.io/apimachinery/pkg/apis/meta/v1.Duration": {"t": "duration"},
    "k8s.io/apimachinery/pkg/apis/meta/v1.Time": {"t": "time"},
    "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime": {"t": "time"},
    "k8s.io/apimachinery/pkg/api/resource.Quantity": {"t": "quantity"},
    "k8s.io/apimachinery/pkg/util/intstr.IntOrString": {"t": "intOrString"},
    "k8s.io/apimachinery/pkg/runtime.RawExtension": {"t": "any"},
    "k8s.io/apimachinery/pkg/runtime.Unknown": {"t": "any"},
    "k8s.io/apimachinery/pkg/types.UID": {"t": "string"},
    "k8s.io/component-base/logs/api/v1.TimeOrMetaDuration": {"t": "durationOrInt"},
    "k8s.io/component-base/logs/api/v1.VModuleConfiguration": {"t": "list", "of": {"t": "struct", "ref": "k8s.io/component-base/logs/api/v1.VModuleItem"}},
    "encoding/json.RawMessage": {"t": "any"},
}
BASIC = {"string": "string", "bool": "bool", "byte": "int", "float32": "number", "float64": "number"}
for _t in ("int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr"):
    BASIC[_t] = "int"


class Package:
    """The type declarations of one Go package at one ref."""

    def __init__(self, mirrors, repo, ref, directory, import_path):
        self.import_path = import_path
        self.structs, self.aliases, self.imports, self.constants = {}, {}, {}, {}
        self.files = []
        for name in mirrors.ls(repo, ref, directory):
            if not name.endswith(".go") or name.endswith("_test.go") or name.startswith("zz_generated") or name.endswith(".pb.go"):
                continue
            src = strip_comments(mirrors.show(repo, ref, directory + "/" + name) or "")
            self.files.append(directory + "/" + name)
            imports = {}
            for m in re.finditer(r'^\s*(?:(\w+)\s+)?"([\w./-]+)"\s*$', src, re.MULTILINE):
                alias = m.group(1) or m.group(2).rsplit("/", 1)[-1]
                imports[alias] = m.group(2)
            for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", src, re.MULTILINE | re.DOTALL):
                self.structs[m.group(1)] = (m.group(2), imports)
            for m in re.finditer(r"^type (\w+) (?!struct\b|interface\b)([\w.\[\]*]+(?:\[[\w.]+\][\w.*\[\]]+)?)\s*$", src, re.MULTILINE):
                self.aliases[m.group(1)] = (m.group(2), imports)
            for m in re.finditer(r'^\s*(\w+)\s+(\w+)\s*=\s*"([^"]*)"', src, re.MULTILINE):
                self.constants.setdefault(m.group(2), []).append(m.group(3))


class TypeTable:
    def __init__(self, mirrors, minor):
        self.mirrors, self.minor = mirrors, minor
        self.packages, self.types, self.sources = {}, {}, []

    def package(self, import_path):
        if import_path not in self.packages:
            m = re.match(r"k8s\.io/([\w-]+)/?(.*)", import_path)
            if not m:
                self.packages[import_path] = None
            else:
                repo, directory = "kubernetes/" + m.group(1), m.group(2)
                ref = ref_for(repo, self.minor)
                pkg = Package(self.mirrors, repo, ref, directory, import_path) if self.mirrors.has(repo) else None
                if pkg and pkg.files:
                    self.sources.extend({"repository": repo, "ref": ref, "path": f, "tagPinned": True} for f in pkg.files)
                self.packages[import_path] = pkg if pkg and pkg.files else None
        return self.packages[import_path]

    def resolve(self, expr, pkg, imports):
        expr = expr.strip()
        if expr.startswith("*"):
            return self.resolve(expr[1:], pkg, imports)
        if expr == "[]byte":
            return {"t": "bytes"}
        if expr.startswith("[]"):
            return {"t": "list", "of": self.resolve(expr[2:], pkg, imports)}
        m = re.match(r"map\[([\w.]+)\](.+)", expr)
        if m:
            return {"t": "map", "of": self.resolve(m.group(2), pkg, imports)}
        if expr in ("interface{}", "any"):
            return {"t": "any"}
        if expr in BASIC:
            return {"t": BASIC[expr]}
        if "." in expr:
            alias, name = expr.split(".", 1)
            path = imports.get(alias)
            if path is None:
                return {"t": "any"}
            full = path + "." + name
            if full in SPECIAL:
                return SPECIAL[full]
            target = self.package(path)
            return self.named(target, name, full) if target else {"t": "any"}
        full = pkg.import_path + "." + expr
        if full in SPECIAL:
            return SPECIAL[full]
        return self.named(pkg, expr, full)

    def named(self, pkg, name, full):
        if name in pkg.structs:
            if full not in self.types:
                self.types[full] = None  # placeholder against recursion
                self.types[full] = self.struct(pkg, *pkg.structs[name])
            return {"t": "struct", "ref": full}
        if name in pkg.aliases:
            base, imports = pkg.aliases[name]
            resolved = dict(self.resolve(base, pkg, imports))
            if name in pkg.constants and resolved.get("t") == "string":
                resolved["values"] = sorted(set(pkg.constants[name]))
            return resolved
        return {"t": "any"}

    def struct(self, pkg, body, imports):
        fields, inline = {}, []
        for line in body.splitlines():
            line = line.strip()
            if not line:
                continue
            tag = re.search(r'`[^`]*json:"([^"]*)"[^`]*`', line)
            decl = re.sub(r"`.*`", "", line).split()
            if not decl:
                continue
            json_name = tag.group(1).split(",")[0] if tag else None
            options = tag.group(1).split(",")[1:] if tag else []
            if json_name == "-":
                continue
            if len(decl) == 1 and not json_name:
                # An embedded struct without a json name: encoding/json promotes its fields.
                inline.append(self.resolve(decl[0], pkg, imports))
                continue
            if len(decl) == 1:
                name, typ = decl[0].lstrip("*").split(".")[-1], decl[0]
            else:
                name, typ = decl[0], " ".join(decl[1:])
            fields[json_name or name] = self.resolve(typ, pkg, imports)
        return {"fields": fields, "inline": [i["ref"] for i in inline if i.get("t") == "struct"]}


def build_schemas(mirrors, minor):
    table = TypeTable(mirrors, minor)
    kinds = {}
    for api_version, kind, repo, directories, go_type, strict in KINDS:
        for directory in directories:
            pkg = table.package("k8s.io/%s/%s" % (repo.split("/")[1], directory))
            if pkg and go_type in pkg.structs:
                kinds["%s/%s" % (api_version, kind)] = {"type": table.resolve(go_type, pkg, {})["ref"], "strict": strict}
                break
    return {"kubernetes": "1.%d" % minor, "kinds": kinds, "types": dict(sorted(table.types.items())),
            "sources": sorted(table.sources, key=lambda s: (s["repository"], s["path"]))}


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=1, sort_keys=False)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mirrors")
    parser.add_argument("--minors", default="29,30,31,32")
    args = parser.parse_args()
    mirrors = Mirrors(args.mirrors)
    missing = [r for r in (AS, CB, CM, CP, "kubernetes/kubelet", "kubernetes/kube-proxy", "kubernetes/client-go",
                           "kubernetes/apimachinery", "kubernetes/api") if not mirrors.has(r)]
    if missing:
        sys.exit("regen-flags: no snapshot of %s under %s (OWNER+NAME/repo)" % (", ".join(missing), args.mirrors))
    facts = main_repo_facts()
    for minor in (int(m) for m in args.minors.split(",")):
        for binary in RECIPES:
            data = build_flags(mirrors, minor, binary, facts)
            write(os.path.join(FLAGS, "%s-1.%d.json" % (binary, minor)), data)
            print("Sources/Inventory/KubernetesFlags/%s-1.%d.json: %d flags from %d sources" % (binary, minor, len(data["flags"]), len(data["sources"])))
        schema = build_schemas(mirrors, minor)
        write(os.path.join(SCHEMAS, "1.%d.json" % minor), schema)
        print("Sources/Inventory/KubernetesSchemas/1.%d.json: %d kinds, %d types" % (minor, len(schema["kinds"]), len(schema["types"])))


if __name__ == "__main__":
    main()
