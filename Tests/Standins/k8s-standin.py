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
#     kubelet on 127.0.0.1:10248 and kube-proxy on 10256, over plain HTTP like the real ones.
# Any failed check exits non-zero with a message saying which flag or file is wrong.
#
# Installed as kubectl (scripts/standin-artifacts.sh with CAPSTAN_STANDIN_KUBECTL=1) it answers
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
import http.server
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

NAME = os.path.basename(sys.argv[0])
VERSION = "@VERSION@"
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


def parse(argv):
    flags = {}
    for arg in argv:
        if not arg.startswith("--"):
            fail("unexpected argument %r (flags are --name=value)" % arg)
        key, _, value = arg[2:].partition("=")
        flags[key] = value
    return flags


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


def yaml_value(text, key):
    match = re.search(r"^\s*-?\s*%s:\s*\"?([^\"\n]*)\"?\s*$" % re.escape(key), text, re.MULTILINE)
    return match.group(1).strip() if match else None


class Kubeconfig:
    """The parts of a kubeconfig Capstan writes: server, CA data and an embedded client pair."""

    def __init__(self, path, flag):
        require_file(flag, path)
        text = open(path).read()
        self.path = path
        self.server = yaml_value(text, "server")
        if not self.server:
            fail("--%s=%s: no cluster server" % (flag, path))
        self.files = tempfile.mkdtemp(prefix="capstan-standin-")
        self.ca = self._embedded(text, "certificate-authority-data", "ca.crt", flag)
        self.cert = self._embedded(text, "client-certificate-data", "client.crt", flag)
        self.key = self._embedded(text, "client-key-data", "client.key", flag)
        check_ca(self.ca, "--%s=%s certificate-authority-data" % (flag, path))
        check_pair(self.cert, self.key, "--%s=%s client credentials" % (flag, path))

    def _embedded(self, text, key, name, flag):
        value = yaml_value(text, key)
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
    """GET /livez on the kubeconfig's server with its CA and client certificate."""
    url = urllib.parse.urlparse(kubeconfig.server)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=kubeconfig.ca)
    context.load_cert_chain(kubeconfig.cert, kubeconfig.key)
    deadline = time.time() + float(os.environ.get("CAPSTAN_STANDIN_API_WAIT", "60"))
    while True:
        try:
            with socket.create_connection((url.hostname, url.port or 443), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname=url.hostname) as tls:
                    tls.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    status = tls.recv(64)
            if b" 200 " in status:
                if not quiet:
                    say("API server %s accepts %s" % (kubeconfig.server, what))
                return
            error = "answered %r" % status
        except (OSError, ssl.SSLError) as exc:
            error = str(exc)
        if time.time() > deadline:
            fail("cannot reach the API server %s with %s: %s" % (kubeconfig.server, what, error))
        time.sleep(1)


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] in ("/livez", "/readyz", "/healthz"):
            body = b"ok"
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
    if not kubeconfig:
        fail("--kubeconfig is required")
    config = Kubeconfig(kubeconfig, "kubeconfig")
    try:
        probe_api(config, "the client certificate in --kubeconfig", quiet=True)
    finally:
        shutil.rmtree(config.files, ignore_errors=True)
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


OBJECT_VERBS = ("apply", "diff", "get", "delete")
OBJECT_STORE = os.environ.get("CAPSTAN_STANDIN_OBJECTS", "/var/lib/capstan-standin/objects.json")
# The flags each object verb takes as Capstan calls it (value flags map to True); anything else is refused
# the way kubectl refuses an unknown flag.
OBJECT_FLAGS = {
    "apply": {"--server-side": False, "--field-manager": True, "--force-conflicts": False, "-f": True, "--filename": True},
    "diff": {"--server-side": False, "--field-manager": True, "--force-conflicts": False, "-f": True, "--filename": True},
    "get": {"--all-namespaces": False, "-A": False, "-l": True, "--selector": True, "-o": True, "--output": True},
    "delete": {"--ignore-not-found": False, "--namespace": True, "-n": True},
}


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
    if not kubeconfig:
        fail("--kubeconfig is required")
    config = Kubeconfig(kubeconfig, "kubeconfig")
    try:
        probe_api(config, "the client certificate in --kubeconfig", quiet=True)
    finally:
        shutil.rmtree(config.files, ignore_errors=True)
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

    if verb in ("apply", "diff"):
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
        else:
            log_lines.append("diff %d object(s) %s" % (len(items), "changed" if changed else "unchanged"))
        exit_code = 1 if verb == "diff" and changed else 0
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


def main():
    if NAME not in PEM_FLAGS:
        fail("unknown component name (install this file as one of %s)" % ", ".join(sorted(PEM_FLAGS)))
    if NAME == "kubectl":
        kubectl(sys.argv[1:])
        return
    if "--version" in sys.argv[1:]:
        print("Kubernetes v%s (Capstan stand-in for %s, not the real binary)" % (VERSION, NAME))
        return
    told = os.path.join(STANDIN_DIR, "fail-%s-%s" % (NAME, VERSION))
    if os.path.exists(told):
        fail("told to fail at start by %s (a test hook)" % told)
    flags = parse(sys.argv[1:])
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
    kubeconfigs = {flag: Kubeconfig(flags[flag], flag) for flag in KUBECONFIG_FLAGS if flag in flags}
    servers = []

    if NAME == "kube-apiserver":
        check_etcd(flags)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(flags["tls-cert-file"], flags["tls-private-key-file"])
        tls.load_verify_locations(cafile=flags["client-ca-file"])
        tls.verify_mode = ssl.CERT_OPTIONAL
        servers.append(serve(flags.get("bind-address", "0.0.0.0"), int(flags.get("secure-port", "6443")), tls))
    elif NAME in ("kube-controller-manager", "kube-scheduler"):
        if "kubeconfig" not in kubeconfigs:
            fail("--kubeconfig is required")
        probe_api(kubeconfigs["kubeconfig"], "the client certificate in --kubeconfig")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(kubeconfigs["kubeconfig"].cert, kubeconfigs["kubeconfig"].key)
        servers.append(serve(flags.get("bind-address", "127.0.0.1"), int(flags.get("secure-port", HEALTH_PORTS[NAME])), tls))
    elif NAME == "kubelet":
        config = open(flags["config"]).read()
        for key in ("clientCAFile",):
            path = yaml_value(config, key)
            if not path or not os.path.isfile(path):
                fail("--config=%s: %s %r is not a file" % (flags["config"], key, path))
        endpoint = yaml_value(config, "containerRuntimeEndpoint") or ""
        if not endpoint.startswith("unix://"):
            fail("--config=%s: containerRuntimeEndpoint %r is not a unix socket URL" % (flags["config"], endpoint))
        if "bootstrap-kubeconfig" in flags:
            require_file("bootstrap-kubeconfig", flags["bootstrap-kubeconfig"])
            say("TLS bootstrap configured with %s (not exercised by the stand-in)" % flags["bootstrap-kubeconfig"])
        elif "kubeconfig" in kubeconfigs:
            probe_api(kubeconfigs["kubeconfig"], "the node's client certificate")
        else:
            fail("--kubeconfig or --bootstrap-kubeconfig is required")
        servers.append(serve("127.0.0.1", 10248))
    elif NAME == "kube-proxy":
        config = open(flags["config"]).read()
        path = yaml_value(config, "kubeconfig")
        if not path:
            fail("--config=%s: clientConnection.kubeconfig is missing" % flags["config"])
        probe_api(Kubeconfig(path, "config clientConnection.kubeconfig"), "kube-proxy's client certificate")
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
