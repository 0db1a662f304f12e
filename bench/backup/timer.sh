#!/bin/sh
# Benchmark: the backup timer's shipping pipeline on an etcd member (snapshot, `snapshot status`, `age` to the
# operator's recipient, SHA-256/MD5 for the store's checks, upload with curl's SigV4, manifest last) against
# what a user would script instead on the same member (`etcdctl snapshot save` + `age -r` + `aws s3 cp`),
# alternating in one run on a 100+ MiB database, into the same S3 server (moto with signature checking,
# scripts/s3-test-server.py) on the lab bridge. Then `capstan backup verify` throughput (fetch, decrypt, check
# every chunk and checksum, `snapshot status`) against `aws s3 cp` + `age -d` + `etcdctl snapshot status`.
# Not a test: it prints and writes results-timer.md.
#
#   capstan lab up --name bkt && bench/backup/timer.sh     # 5 rounds
#   LAB=mylab RUNS=7 bench/backup/timer.sh
#
# Needs root (lab hosts), a built capstan (CAPSTAN=path, default: release then debug build), the S3 test venv
# (scripts/prereqs.sh: moto, boto3, awscli), Debian's `age` and etcd-client (etcdctl) here, and GNU time.
# The lab's first three hosts are wiped and get a fresh etcd with the timer.
set -eu

LAB=${LAB:-bkt}
RUNS=${RUNS:-5}
TARGET_MIB=${TARGET_MIB:-110}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/capstan-bench-timer.XXXXXX)
S3PID=""
cleanup() {
    [ -z "$S3PID" ] || kill "$S3PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
. "$HERE/lib.sh"
VENV=${CAPSTAN_CACHE:-/var/cache/capstan}/s3-venv
[ -x "$VENV/bin/python" ] || { echo "no S3 test venv at $VENV: run scripts/prereqs.sh" >&2; exit 1; }
AWS=${AWS:-$VENV/bin/aws}
[ -x "$AWS" ] || AWS=$(command -v aws) || { echo "awscli is needed (scripts/prereqs.sh installs it into $VENV)" >&2; exit 1; }
command -v age >/dev/null && command -v etcdctl >/dev/null || { echo "needs age and etcdctl here: apt-get install age etcd-client" >&2; exit 1; }
MACHINE=$(sed -n "s/.*lab's veth (\([0-9.]*\)).*/\1/p" "$LABDIR/inventory.yaml" | head -n 1)
ADDRS=$(awk '/address:/ {print $2}' "$LABDIR/inventory.yaml" | head -n 3)
H1=$(echo "$ADDRS" | head -n 1)
H1ROOT=$LABDIR/hosts/h1/root

echo "== S3 server (moto, signature checking on) on $MACHINE"
mkdir -p "$WORK/s3"
# The server runs until its stdin closes: this script holds the fifo open (fd 3), and the trap ends the server.
mkfifo "$WORK/s3.in"
"$VENV/bin/python" "$REPO/scripts/s3-test-server.py" --host "$MACHINE" --port 0 --dir "$WORK/s3" < "$WORK/s3.in" > "$WORK/s3.json" 2>"$WORK/s3.log" &
S3PID=$!
exec 3> "$WORK/s3.in"
i=0
while [ ! -s "$WORK/s3.json" ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
field() { sed -n "s/.*\"$1\": *\"\([^\"]*\)\".*/\1/p" "$WORK/s3.json"; }
ENDPOINT=$(field endpoint); BUCKET=$(field bucket); OPERATOR=$(field operator); WRITER=$(field writer)
[ -n "$ENDPOINT" ] || { cat "$WORK/s3.log"; exit 1; }

RECIPIENT=$("$CAPSTAN" backup keygen --output "$WORK/identity.txt" 2>/dev/null)
# The lab's inventory with the timer shipping to the S3 server, the PKI state in the work directory.
awk -v r="$RECIPIENT" -v id="$WORK/identity.txt" -v ep="$ENDPOINT" -v b="$BUCKET" -v w="$WRITER" -v o="$OPERATOR" '
    /^    backup:/ { skip = 1
        print "    backup:\n      schedule: \"*-*-* 02:00:00\"\n      keep: 2\n      includePKI: false"
        print "      recipients: [" r "]\n      identityFile: " id
        print "      destination:\n        s3:\n          endpoint: " ep "\n          bucket: " b "\n          prefix: timer/\n          pathStyle: true"
        print "          credentialsFile: " w "\n          operatorCredentialsFile: " o
        next }
    skip && /encryptionKeyFile:/ { skip = 0; next }
    !skip { print }' "$LABDIR/inventory.yaml" > "$WORK/inventory.yaml"

echo "== wiping the lab hosts and bringing up etcd and the timer with capstan apply"
wipe_etcd $ADDRS
for n in 1 2 3; do cp /usr/bin/age "$LABDIR/hosts/h$n/root/usr/local/bin/age"; done
"$CAPSTAN" apply --only pki,etcd,backup -i "$WORK/inventory.yaml" > "$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log"; exit 1; }
fill_etcd "$H1" "$TARGET_MIB"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

s3env="AWS_SHARED_CREDENTIALS_FILE=$WRITER AWS_DEFAULT_REGION=us-east-1"
i=1
while [ "$i" -le "$RUNS" ]; do
    echo "== round $i"
    sleep 1 # one snapshot name per second
    time_it timer "ssh $SSH_OPTS root@$H1 systemctl start etcd-backup.service"
    time_it plain "ssh $SSH_OPTS root@$H1 '$ETCDCTL snapshot save /var/tmp/plain.db >/dev/null && age -r $RECIPIENT -o /var/tmp/plain.db.age /var/tmp/plain.db' && $s3env '$AWS' --endpoint-url '$ENDPOINT' s3 cp --only-show-errors '$H1ROOT/var/tmp/plain.db.age' 's3://$BUCKET/plain/round-$i.db.age' && ssh $SSH_OPTS root@$H1 rm -f /var/tmp/plain.db /var/tmp/plain.db.age"
    i=$((i + 1))
done

NAME=$("$CAPSTAN" backup list -i "$WORK/inventory.yaml" --output json | sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p' | head -n 1)
STORED=$("$CAPSTAN" backup list -i "$WORK/inventory.yaml" --output json | sed -n 's/.*"storedBytes" *: *\([0-9]*\).*/\1/p' | head -n 1)
openv="AWS_SHARED_CREDENTIALS_FILE=$OPERATOR AWS_DEFAULT_REGION=us-east-1"
i=1
while [ "$i" -le "$RUNS" ]; do
    time_it verify "'$CAPSTAN' backup verify -i '$WORK/inventory.yaml' '$NAME'"
    time_it fetch "$openv '$AWS' --endpoint-url '$ENDPOINT' s3 cp --only-show-errors 's3://$BUCKET/timer/$NAME.snapshot.db.age' '$WORK/f.age' && age -d -i '$WORK/identity.txt' -o '$WORK/f.db' '$WORK/f.age' && ETCDCTL_API=3 etcdctl snapshot status '$WORK/f.db' -w json >/dev/null && rm -f '$WORK/f.age' '$WORK/f.db'"
    i=$((i + 1))
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$WORK/times"

# stats NAME: "median min max" of the wall times
stats() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/times" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f %.2f %.2f", m, v[1], v[NR] }'; }
set -- $(stats timer); TM=$1 TMIN=$2 TMAX=$3
set -- $(stats plain); PM=$1 PMIN=$2 PMAX=$3
set -- $(stats verify); VM=$1 VMIN=$2 VMAX=$3
set -- $(stats fetch); FM=$1 FMIN=$2 FMAX=$3

RESULTS="$HERE/results-timer.md"
{
    echo "# Backup timer benchmark: shipping to S3, and verify"
    echo
    echo "$(date -u +%Y-%m-%d), lab \`$LAB\` (systemd-nspawn hosts on this machine, $(nproc) cores shared), etcd $ETCD_VERSION with TLS,"
    echo "database $((DB / 1048576)) MiB of random 1 MiB values; $RUNS rounds, the two pipelines alternating; S3 is moto's server"
    echo "(signature checking on) on the lab bridge, the same for both; measured by \`bench/backup/timer.sh\`."
    echo "capstan: $(basename "$(dirname "$CAPSTAN")") build. Load average (1/5/15 min) at the start: $LOAD_START; at the end: $LOAD_END."
    echo
    echo "| pipeline | median wall s | min | max |"
    echo "|---|---|---|---|"
    echo "| timer run on the member (\`systemctl start etcd-backup.service\`: health probe, snapshot, status, age with SHA-256 + MD5 beside it, one PUT with curl SigV4 (multipart above 512 MiB), manifest) | $TM | $TMIN | $TMAX |"
    echo "| \`etcdctl snapshot save\` + \`age -r\` on the member, \`aws s3 cp\` of the file | $PM | $PMIN | $PMAX |"
    echo "| \`capstan backup verify\` ($((STORED / 1048576)) MiB stored: fetch, age decrypt, both SHA-256, \`snapshot status\`) | $VM | $VMIN | $VMAX |"
    echo "| \`aws s3 cp\` + \`age -d\` + \`etcdctl snapshot status\` | $FM | $FMIN | $FMAX |"
    echo
    awk -v t="$TM" -v p="$PM" -v v="$VM" -v f="$FM" -v s="$STORED" 'BEGIN {
        printf "Timer / script: **%.2f×** (medians; target ≤ 1.2×). verify: %.1f MiB/s of stored backup (median), %.2f× the fetch-decrypt-status script.\n", t / p, s / 1048576 / v, v / f }'
    echo
    echo "The timer's run also does what the script does not: it probes member health to pick the one member that"
    echo "snapshots, runs \`snapshot status\` on the new file, keeps it as a local copy (keep 2), takes SHA-256 of the"
    echo "plaintext and SHA-256 + MD5 of the ciphertext (beside age, through fifos) for the manifest and the store's"
    echo "checks, and uploads the manifest. \`aws s3 cp\` uploads 8 MiB parts on 10 threads; the timer sends one PUT."
} > "$RESULTS"
cat "$RESULTS"
