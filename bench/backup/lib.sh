# Shared by the bench/backup scripts, sourced once LAB, HERE and WORK are set: the capstan binary (CAPSTAN,
# default: release then debug build), the lab's directory and SSH options, `on HOST COMMAND`, and
# `time_it NAME COMMAND`, which appends "NAME wall user sys" to $WORK/times (this machine's CPU only).
REPO=$(cd "$HERE/../.." && pwd)
if [ -z "${CAPSTAN:-}" ]; then
    for c in "$REPO/.build/release/capstan" "$REPO/.build/debug/capstan"; do
        [ -x "$c" ] && CAPSTAN=$c && break
    done
fi
[ -x "${CAPSTAN:-}" ] || { echo "build capstan first (swift build -c release) or set CAPSTAN" >&2; exit 1; }
LABDIR=/var/lib/capstan/lab/$LAB
[ -f "$LABDIR/inventory.yaml" ] || { echo "no lab $LAB: run capstan lab up --name $LAB" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed: apt-get install time" >&2; exit 1; }
SSH_OPTS="-i $LABDIR/id_ed25519 -o UserKnownHostsFile=$LABDIR/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"

on() { host=$1; shift; ssh $SSH_OPTS "root@$host" "$@"; }

time_it() {
    name=$1; shift
    /usr/bin/time -f "$name %e %U %S" -a -o "$WORK/times" sh -c "$*" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; exit 1; }
}

ETCDCTL="ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"

# wipe_etcd ADDRESS...: no etcd, no backup timer, no local snapshots on those lab hosts.
wipe_etcd() {
    for a in "$@"; do
        on "$a" 'systemctl disable --now etcd etcd-backup.timer 2>/dev/null; rm -rf /var/lib/etcd* /etc/etcd /etc/kubernetes /etc/capstan /etc/systemd/system/etcd* /var/backups/etcd /var/lib/capstan/etcd-backup /usr/local/bin/etcd*; systemctl daemon-reload; true'
    done
}

# fill_etcd HOST MIB: writes MIB values of 1 MiB random data from HOST itself; sets DB (bytes) and ETCD_VERSION.
fill_etcd() {
    echo "== filling etcd to ~$2 MiB from $1 itself (1 MiB values of random data)"
    on "$1" "head -c 786432 /dev/urandom | base64 -w0 > /var/tmp/bench-value && for i in \$(seq 1 $2); do $ETCDCTL put bench/key-\$i < /var/tmp/bench-value > /dev/null || exit 1; head -c 786432 /dev/urandom | base64 -w0 > /var/tmp/bench-value; done; rm -f /var/tmp/bench-value"
    DB=$(on "$1" "$ETCDCTL endpoint status -w json" | sed -n 's/.*"dbSize":\([0-9]*\).*/\1/p')
    ETCD_VERSION=$(on "$1" "/usr/local/bin/etcd --version" | sed -n 's/^etcd Version: //p')
    echo "database: $DB bytes (etcd $ETCD_VERSION)"
}
