#!/bin/sh
# Managed by Capstan (lab): node-local etcd snapshot on h2.
#
# Every member runs this from its timer; only the first healthy member in the fixed order below takes
# the snapshot, so the cluster is not snapshotted by all members at once and a dead member is skipped.
# The snapshot is written to a temporary file, checked with `snapshot status`, made 0600 and renamed
# into place, so a failed run never replaces a good snapshot. The newest 7 are kept. A Prometheus
# textfile-collector file reports the last success time, size, duration and the failure count.
set -eu

MEMBER=h2
ETCDCTL=/usr/local/bin/etcdctl
ETCDUTL=/usr/local/bin/etcdutl
BACKUP_DIR=/var/backups/etcd
KEEP=7
STATE_DIR=/var/lib/capstan/etcd-backup
METRICS_FILE=/var/lib/node_exporter/textfile_collector/capstan_etcd_backup.prom
export ETCDCTL_API=3
export ETCDCTL_CACERT=/etc/kubernetes/pki/etcd/ca.crt
export ETCDCTL_CERT=/etc/kubernetes/pki/etcd/healthcheck-client.crt
export ETCDCTL_KEY=/etc/kubernetes/pki/etcd/healthcheck-client.key

# name client-url, in the order that decides who takes the snapshot.
MEMBERS='
h1 https://10.213.0.11:2379
h2 https://10.213.0.12:2379
h3 https://10.213.0.13:2379
'

log() { echo "etcd-backup[$MEMBER]: $*" >&2; }

read_state() { cat "$STATE_DIR/$1" 2>/dev/null || echo "$2"; }

write_metrics() {
    mkdir -p "$(dirname "$METRICS_FILE")"
    metrics_tmp="$METRICS_FILE.$$.tmp"
    {
        echo "# HELP capstan_etcd_backup_last_success_timestamp_seconds Unix time of the last successful etcd snapshot on this member."
        echo "# TYPE capstan_etcd_backup_last_success_timestamp_seconds gauge"
        echo "capstan_etcd_backup_last_success_timestamp_seconds{cluster=\"lab\",member=\"$MEMBER\"} $(read_state last_success 0)"
        echo "# HELP capstan_etcd_backup_last_size_bytes Size of the last successful etcd snapshot."
        echo "# TYPE capstan_etcd_backup_last_size_bytes gauge"
        echo "capstan_etcd_backup_last_size_bytes{cluster=\"lab\",member=\"$MEMBER\"} $(read_state last_size 0)"
        echo "# HELP capstan_etcd_backup_last_duration_seconds Duration of the last successful etcd snapshot."
        echo "# TYPE capstan_etcd_backup_last_duration_seconds gauge"
        echo "capstan_etcd_backup_last_duration_seconds{cluster=\"lab\",member=\"$MEMBER\"} $(read_state last_duration 0)"
        echo "# HELP capstan_etcd_backup_failures_total Failed etcd snapshot attempts on this member."
        echo "# TYPE capstan_etcd_backup_failures_total counter"
        echo "capstan_etcd_backup_failures_total{cluster=\"lab\",member=\"$MEMBER\"} $(read_state failures 0)"
    } > "$metrics_tmp"
    chmod 0644 "$metrics_tmp"
    mv -f "$metrics_tmp" "$METRICS_FILE"
}

fail() {
    log "FAILED: $*"
    mkdir -p "$STATE_DIR"
    echo $(( $(read_state failures 0) + 1 )) > "$STATE_DIR/failures"
    write_metrics || true
    exit 1
}

# The first healthy member in the fixed order takes the snapshot.
chosen=""
chosen_url=""
while read -r name url; do
    [ -n "$name" ] || continue
    if "$ETCDCTL" --endpoints="$url" --dial-timeout=2s --command-timeout=3s endpoint health >/dev/null 2>&1; then
        chosen=$name
        chosen_url=$url
        break
    fi
done <<MEMBERS_EOF
$MEMBERS
MEMBERS_EOF

[ -n "$chosen" ] || fail "no healthy etcd member answered"
if [ "$chosen" != "$MEMBER" ]; then
    log "skipped: $chosen is the first healthy member and takes the snapshot"
    exit 0
fi

umask 077
mkdir -p "$BACKUP_DIR" "$STATE_DIR"
started=$(date +%s)
stamp=$(date -u +%Y%m%dT%H%M%SZ)
# Two runs in the same second (a manual start right after the timer) must not overwrite each other.
final="$BACKUP_DIR/etcd-snapshot-$MEMBER-$stamp.db"
n=1
while [ -e "$final" ]; do
    n=$(( n + 1 ))
    final="$BACKUP_DIR/etcd-snapshot-$MEMBER-$stamp-$n.db"
done
tmp="$BACKUP_DIR/.$(basename "$final").part"
# etcdctl itself writes "$tmp.part" first; a failed or killed run leaves neither behind.
trap 'rm -f "$tmp" "$tmp.part"' EXIT

"$ETCDCTL" --endpoints="$chosen_url" snapshot save "$tmp" >/dev/null 2>"$STATE_DIR/last_error" \
    || fail "snapshot save: $(tail -n 3 "$STATE_DIR/last_error")"
if [ -x "$ETCDUTL" ]; then
    status_cmd="$ETCDUTL snapshot status"
else
    status_cmd="$ETCDCTL snapshot status"
fi
$status_cmd "$tmp" -w json >"$STATE_DIR/last_status.json" 2>"$STATE_DIR/last_error" \
    || fail "snapshot status: $(tail -n 3 "$STATE_DIR/last_error")"
chmod 0600 "$tmp"
mv -f "$tmp" "$final"
trap - EXIT

size=$(wc -c < "$final" | tr -d ' ')
finished=$(date +%s)
echo "$finished" > "$STATE_DIR/last_success"
echo "$size" > "$STATE_DIR/last_size"
echo $(( finished - started )) > "$STATE_DIR/last_duration"

# Keep the newest $KEEP snapshots of this cluster on this member.
ls -1t "$BACKUP_DIR"/etcd-snapshot-*.db 2>/dev/null | tail -n +$(( KEEP + 1 )) | while read -r old; do
    rm -f "$old" "$old.shipped"
done

write_metrics
log "saved $final ($size bytes, status $(cat "$STATE_DIR/last_status.json"))"
