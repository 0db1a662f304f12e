#!/usr/bin/env python3
# CAPSTAN STAND-IN — NOT A KUBERNETES API SERVER, NOT A CLOUD PROVIDER.
#
# Stands in for a provider's managed control plane (EKS, GKE, AKS) in lab tests of managed clusters: the
# provider's API endpoint as Capstan and its workers see it. Over TLS with --cert/--key it serves
#   * GET /version: the version document a real kube-apiserver answers (gitVersion as --version gives it,
#     e.g. v1.31.4-eks-standin), to any client, as Kubernetes' default RBAC allows
#     (system:public-info-viewer);
#   * GET /livez, /readyz, /healthz: "ok".
# Client certificates are asked for and checked against --client-ca when sent (optional, like the real API
# server, which also serves anonymous requests). Everything else answers 404. "Upgrading the provider" in a
# test is restarting this with another --version.
#
# Usage: provider-standin.py --version v1.31.4 --cert server.crt --key server.key --client-ca ca.crt [--port 6443]
import argparse
import http.server
import json
import re
import ssl
import sys


def main():
    parser = argparse.ArgumentParser(description="Capstan stand-in for a provider's managed control plane")
    parser.add_argument("--version", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca", required=True)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=6443)
    args = parser.parse_args()
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?", args.version)
    if not match:
        sys.exit("--version %r is not a Kubernetes version like v1.31.4 or v1.31.4-eks-standin" % args.version)
    document = json.dumps({
        "major": match.group(1), "minor": match.group(2), "gitVersion": args.version,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc", "platform": "linux/amd64",
    }, indent=2).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/version":
                body, kind, status = document, "application/json", 200
            elif path in ("/livez", "/readyz", "/healthz"):
                body, kind, status = b"ok", "text/plain", 200
            else:
                body, kind, status = b"Capstan provider stand-in: only /version, /livez, /readyz and /healthz\n", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(args.cert, args.key)
    tls.load_verify_locations(cafile=args.client_ca)
    tls.verify_mode = ssl.CERT_OPTIONAL
    server = http.server.ThreadingHTTPServer((args.address, args.port), Handler)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    print("provider stand-in %s serving on %s:%d" % (args.version, args.address, args.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
