#!/usr/bin/env python3
"""An S3-protocol test server for Capstan's tests and benchmarks: moto's server mode with request
authentication on (INITIAL_NO_AUTH_ACTION_COUNT), so unsigned or wrongly signed requests are refused.

It creates, before authentication starts, a bucket and two IAM users with their access keys:
  operator  - s3:* on the bucket (list, read, delete: what `capstan backup list/verify/prune/restore` use)
  writer    - s3:PutObject and the multipart calls only (what an etcd host gets)
and writes AWS credentials files for both into --dir, then prints one JSON line with the endpoint and
the file paths, and serves until stdin closes or it is terminated.

Usage: s3-test-server.py --host 127.0.0.1 --port 0 --dir DIR [--bucket NAME]
Run it with the Python that has moto[server] and boto3 (scripts/prereqs.sh puts them in a venv).
"""
import argparse
import json
import os
import socket
import sys

BOOTSTRAP_ACTIONS = 7  # create_bucket + 2 x (create_user, create_access_key, put_user_policy)

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--dir", required=True)
parser.add_argument("--bucket", default="capstan-backups")
args = parser.parse_args()

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_ACTIONS)
os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")

from moto.server import ThreadedMotoServer  # noqa: E402  (after the environment is set)
import boto3  # noqa: E402

port = args.port
if port == 0:
    with socket.socket() as s:
        s.bind((args.host, 0))
        port = s.getsockname()[1]
server = ThreadedMotoServer(ip_address=args.host, port=port, verbose=False)
server.start()
endpoint = f"http://{args.host}:{port}"
boot = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
s3 = boto3.client("s3", **boot)
iam = boto3.client("iam", **boot)
s3.create_bucket(Bucket=args.bucket)
arn = f"arn:aws:s3:::{args.bucket}"
policies = {
    "operator": [{"Effect": "Allow", "Action": "s3:*", "Resource": [arn, arn + "/*"]}],
    "writer": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], "Resource": [arn + "/*"]}],
}
os.makedirs(args.dir, exist_ok=True)
out = {"endpoint": endpoint, "bucket": args.bucket, "region": "us-east-1"}
for user, statements in policies.items():
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    path = os.path.join(args.dir, f"{user}.credentials")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[default]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n")
    out[user] = path
print(json.dumps(out), flush=True)
try:
    sys.stdin.read()
finally:
    server.stop()
