#!/bin/sh
# Managed by Capstan ({{clusterName}}): node-local etcd snapshot on {{memberName}}.
#
# Every member runs this from its timer; only the first healthy member in the fixed order below takes
# the snapshot, so the cluster is not snapshotted by all members at once and a dead member is skipped.
# The snapshot is written to a temporary file, checked with `snapshot status`, made 0600 and renamed
# into place, so a failed run never replaces a good snapshot. The newest {{keep}} are kept. A Prometheus
# textfile-collector file reports the last success time, size, duration and the failure count.
{{#ship}}
#
# Shipping: each local snapshot not yet shipped is encrypted here with `age` to the operator's recipients
# (this host holds no key that decrypts it) and uploaded to S3 with curl's SigV4, using write-only
# credentials (S3 checks every upload against its Content-MD5 and x-amz-content-sha256), or to an SFTP store as
# an account whose key the store limits to uploads. The manifest goes up last, so a backup exists only once
# complete. A failed upload counts in
# capstan_etcd_backup_upload_failures_total and keeps the local snapshot, and the next run ships it.
{{/ship}}
set -eu

MEMBER={{memberName}}
ETCDCTL={{binDir}}/etcdctl
ETCDUTL={{binDir}}/etcdutl
BACKUP_DIR={{backupDir}}
KEEP={{keep}}
STATE_DIR={{stateDir}}
METRICS_FILE={{metricsFile}}
export ETCDCTL_API=3
{{#tls}}
export ETCDCTL_CACERT={{caFile}}
export ETCDCTL_CERT={{certFile}}
export ETCDCTL_KEY={{keyFile}}
{{/tls}}

# name client-url, in the order that decides who takes the snapshot.
MEMBERS='{{#members}}
{{name}} {{clientURL}}{{/members}}
'

log() { echo "etcd-backup[$MEMBER]: $*" >&2; }

read_state() { cat "$STATE_DIR/$1" 2>/dev/null || echo "$2"; }

write_metrics() {
    mkdir -p "$(dirname "$METRICS_FILE")"
    metrics_tmp="$METRICS_FILE.$$.tmp"
    {
        echo "# HELP capstan_etcd_backup_last_success_timestamp_seconds Unix time of the last successful etcd snapshot on this member."
        echo "# TYPE capstan_etcd_backup_last_success_timestamp_seconds gauge"
        echo "capstan_etcd_backup_last_success_timestamp_seconds{cluster=\"{{clusterName}}\",member=\"$MEMBER\"} $(read_state last_success 0)"
        echo "# HELP capstan_etcd_backup_last_size_bytes Size of the last successful etcd snapshot."
        echo "# TYPE capstan_etcd_backup_last_size_bytes gauge"
        echo "capstan_etcd_backup_last_size_bytes{cluster=\"{{clusterName}}\",member=\"$MEMBER\"} $(read_state last_size 0)"
        echo "# HELP capstan_etcd_backup_last_duration_seconds Duration of the last successful etcd snapshot."
        echo "# TYPE capstan_etcd_backup_last_duration_seconds gauge"
        echo "capstan_etcd_backup_last_duration_seconds{cluster=\"{{clusterName}}\",member=\"$MEMBER\"} $(read_state last_duration 0)"
        echo "# HELP capstan_etcd_backup_failures_total Failed etcd snapshot attempts on this member."
        echo "# TYPE capstan_etcd_backup_failures_total counter"
        echo "capstan_etcd_backup_failures_total{cluster=\"{{clusterName}}\",member=\"$MEMBER\"} $(read_state failures 0)"
{{#ship}}
        echo "# HELP capstan_etcd_backup_upload_failures_total Failed uploads of encrypted etcd snapshots to the backup store."
        echo "# TYPE capstan_etcd_backup_upload_failures_total counter"
        echo "capstan_etcd_backup_upload_failures_total{cluster=\"{{clusterName}}\",member=\"$MEMBER\"} $(read_state upload_failures 0)"
        echo "# HELP capstan_etcd_backup_last_upload_success_timestamp_seconds Unix time of the last snapshot shipped to the backup store."
        echo "# TYPE capstan_etcd_backup_last_upload_success_timestamp_seconds gauge"
        echo "capstan_etcd_backup_last_upload_success_timestamp_seconds{cluster=\"{{clusterName}}\",member=\"$MEMBER\"} $(read_state last_upload 0)"
{{/ship}}
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

{{#ship}}
AGE={{{ageBinary}}}
RECIPIENTS='{{#recipients}} -r {{{.}}}{{/recipients}}'
CLUSTER={{clusterName}}
CAPSTAN_VERSION={{{capstanVersion}}}
# The cluster's PKI, published to the store encrypted to the same recipients by the operator's side (this host
# holds no CA key); each manifest names it, so a restore into an empty site brings the CAs back from the store.
SHARED_PKI='{{{sharedPKI}}}'
SECRETS_KEYS='{{{secretsKeys}}}'

sha_hex() { sha256sum "$1" | cut -c1-64; }
{{#sftp}}
SFTP_HOST={{{host}}}
SFTP_PORT={{port}}
SFTP_USER={{{user}}}
SFTP_PATH={{{path}}}
SFTP_KEY={{{identityFile}}}
SFTP_KNOWN_HOSTS={{{knownHostsFile}}}

store_location() { echo "sftp://$SFTP_USER@$SFTP_HOST:$SFTP_PORT$SFTP_PATH/"; }

# One `put` in sftp's batch mode (which stops at the first error), the store's host key checked against the
# known_hosts Capstan deployed. The store's authorized_keys entry denies reading, listing, removing and renaming.
# The file goes up 0640 (ciphertext or manifest), so the operator's account reads it through the directory's group.
sftp_put() { # file name
    chmod 0640 "$1"
    printf 'put "%s" "%s"\n' "$1" "$SFTP_PATH/$2" | \
        sftp -b - -q -i "$SFTP_KEY" -P "$SFTP_PORT" -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
            -o UserKnownHostsFile="$SFTP_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null -o ConnectTimeout=10 \
            "$SFTP_USER@$SFTP_HOST" > "$STATE_DIR/last_response" 2>&1
}
put_snapshot() { sftp_put "$1" "$2"; }
put_manifest() { sftp_put "$1" "$2"; }
{{/sftp}}
{{^sftp}}
S3_ENDPOINT={{{endpoint}}}
S3_BUCKET={{{bucket}}}
S3_PREFIX={{{prefix}}}
S3_REGION={{{region}}}
S3_PATH_STYLE={{pathStyle}}
S3_CA_FILE={{{caFile}}}
S3_CREDENTIALS={{{credentialsFile}}}
PART_SIZE={{partSizeBytes}}
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

s3_url() {
    if [ "$S3_PATH_STYLE" = 1 ]; then
        echo "$S3_ENDPOINT/$S3_BUCKET/$S3_PREFIX$1"
    else
        echo "${S3_ENDPOINT%%://*}://$S3_BUCKET.${S3_ENDPOINT#*://}/$S3_PREFIX$1"
    fi
}

# curl signing with SigV4; the secret goes in on stdin (a curl config), never on the command line.
s3_curl() {
    key_id=$(sed -n 's/^[[:space:]]*aws_access_key_id[[:space:]]*=[[:space:]]*//p' "$S3_CREDENTIALS" | head -n 1)
    secret=$(sed -n 's/^[[:space:]]*aws_secret_access_key[[:space:]]*=[[:space:]]*//p' "$S3_CREDENTIALS" | head -n 1)
    printf 'user = "%s:%s"\n' "$key_id" "$secret" | \
        curl -sS --fail-with-body --connect-timeout 10 --max-time 3600 -K - --aws-sigv4 "aws:amz:$S3_REGION:s3" \
            ${S3_CA_FILE:+--cacert "$S3_CA_FILE"} "$@"
}

# Content-MD5 (base64) and SHA-256 (hex) of a file: the checksums S3 verifies on arrival.
md5_b64() { perl -e 'print pack("H*", $ARGV[0])' "$1" | base64; } # hex MD5
md5_hex() { md5sum "$1" | cut -c1-32; }

s3_put_file() { # file key sha256-hex md5-hex [extra curl args]
    file=$1; key=$2; sha=$3; md5=$4; shift 4
    s3_curl -o "$STATE_DIR/last_response" -X PUT -H "x-amz-content-sha256: $sha" -H "Content-MD5: $(md5_b64 "$md5")" \
        "$@" -T "$file" "$(s3_url "$key")"
}

# Objects over PART_SIZE go up in parts; S3 shows the object only after CompleteMultipartUpload, and a failed
# upload is aborted, so an interrupted run never leaves a partial object.
s3_put() { # file key sha256-hex md5-hex
    size=$(wc -c < "$1" | tr -d ' ')
    if [ "$size" -le "$PART_SIZE" ]; then
        s3_put_file "$1" "$2" "$3" "$4"
        return
    fi
    url=$(s3_url "$2")
    s3_curl -o "$STATE_DIR/last_response" -X POST -H "x-amz-content-sha256: $EMPTY_SHA" "$url?uploads=" || return 1
    upload_id=$(sed -n 's:.*<UploadId>\([^<]*\)</UploadId>.*:\1:p' "$STATE_DIR/last_response")
    [ -n "$upload_id" ] || return 1
    id_q=$(printf '%s' "$upload_id" | sed 's/%/%25/g; s/+/%2B/g; s:/:%2F:g; s/=/%3D/g')
    xml="$STATE_DIR/complete.xml"
    printf '<CompleteMultipartUpload>' > "$xml"
    n=1
    while [ $(( (n - 1) * PART_SIZE )) -lt "$size" ]; do
        dd if="$1" of="$STATE_DIR/part" bs="$PART_SIZE" skip=$(( n - 1 )) count=1 2>/dev/null || break
        if ! s3_curl -o /dev/null -D "$STATE_DIR/part_headers" -X PUT -H "x-amz-content-sha256: $(sha_hex "$STATE_DIR/part")" \
                -H "Content-MD5: $(md5_b64 "$(md5_hex "$STATE_DIR/part")")" -T "$STATE_DIR/part" "$url?partNumber=$n&uploadId=$id_q"; then
            rm -f "$STATE_DIR/part"
            s3_curl -o /dev/null -X DELETE -H "x-amz-content-sha256: $EMPTY_SHA" "$url?uploadId=$id_q" || true
            return 1
        fi
        etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*\(.*\)$/\1/p' "$STATE_DIR/part_headers" | tr -d '\r')
        printf '<Part><PartNumber>%s</PartNumber><ETag>%s</ETag></Part>' "$n" "$etag" >> "$xml"
        n=$(( n + 1 ))
    done
    rm -f "$STATE_DIR/part"
    printf '</CompleteMultipartUpload>' >> "$xml"
    if ! s3_curl -o "$STATE_DIR/last_response" -X POST -H "Content-Type: application/xml" -H "x-amz-content-sha256: $(sha_hex "$xml")" \
            -H "Content-MD5: $(md5_b64 "$(md5_hex "$xml")")" --data-binary "@$xml" "$url?uploadId=$id_q" \
            || grep -q '<Error>' "$STATE_DIR/last_response"; then
        s3_curl -o /dev/null -X DELETE -H "x-amz-content-sha256: $EMPTY_SHA" "$url?uploadId=$id_q" || true
        return 1
    fi
}

store_location() { s3_url ""; }
put_snapshot() { s3_put "$1" "$2" "$3" "$4"; }
put_manifest() { s3_put_file "$1" "$2" "$(sha_hex "$1")" "$(md5_hex "$1")" -H "Content-Type: application/json"; }
{{/sftp}}

json_field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2"; }

# Encrypts one local snapshot, uploads it, then its manifest (the format `capstan backup list` reads).
ship_one() { # snapshot-file
    snap=$1
    base=$(basename "$snap" .db)
    stamp=${base#etcd-snapshot-$MEMBER-}
    name="$CLUSTER-$stamp"
    created=$(printf '%s' "$stamp" | sed 's/^\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z.*/\1-\2-\3T\4:\5:\6Z/')
    # The snapshot just taken was checked above; older ones (after an outage) are checked again.
    if [ "$snap" = "$final" ]; then
        cp "$STATE_DIR/last_status.json" "$STATE_DIR/ship_status.json"
    else
        $status_cmd "$snap" -w json > "$STATE_DIR/ship_status.json" 2>/dev/null || return 1
    fi
    enc="$STATE_DIR/ship.age"
    # shellcheck disable=SC2086
    # One read of the snapshot: age encrypts it while the plaintext's SHA-256 and the ciphertext's SHA-256 and
    # MD5 (the store's checks) are taken beside it through fifos, on the other cores.
    hashes="$STATE_DIR/hashes"
    rm -rf "$hashes" && mkdir -p "$hashes" && mkfifo "$hashes/plain" "$hashes/sha" "$hashes/md5" || return 1
    sha256sum < "$hashes/plain" > "$hashes/plain.out" &
    sha256sum < "$hashes/sha" > "$hashes/sha.out" &
    md5sum < "$hashes/md5" > "$hashes/md5.out" &
    # shellcheck disable=SC2086
    tee "$hashes/plain" < "$snap" | { "$AGE" $RECIPIENTS || echo failed > "$hashes/age.failed"; } | tee "$hashes/sha" "$hashes/md5" > "$enc"
    wait
    [ ! -e "$hashes/age.failed" ] || return 1
    plain_sha=$(cut -c1-64 "$hashes/plain.out")
    stored_sha=$(cut -c1-64 "$hashes/sha.out")
    stored_md5=$(cut -c1-32 "$hashes/md5.out")
    rm -rf "$hashes"
    [ ${#plain_sha} -eq 64 ] && [ ${#stored_sha} -eq 64 ] && [ ${#stored_md5} -eq 32 ] || return 1
    plain_size=$(wc -c < "$snap" | tr -d ' ')
    stored_size=$(wc -c < "$enc" | tr -d ' ')
    manifest="$STATE_DIR/ship.manifest.json"
    printf '{"capstanVersion":"%s","cluster":"%s","createdAt":"%s","dbSize":%s,"encryption":{"algorithm":"age","chunkSize":65536,"formatVersion":1},"etcdVersion":"%s","formatVersion":1,"member":"%s","name":"%s","revision":%s,"snapshot":{"name":"%s.snapshot.db.age","plaintextSHA256":"%s","plaintextSize":%s,"storedSHA256":"%s","storedSize":%s},"snapshotHash":%s,"source":"timer:%s","totalKeys":%s%s%s}\n' \
        "$CAPSTAN_VERSION" "$CLUSTER" "$created" "$(json_field totalSize "$STATE_DIR/ship_status.json")" "$ETCD_VERSION" "$MEMBER" "$name" \
        "$(json_field revision "$STATE_DIR/ship_status.json")" "$name" "$plain_sha" "$plain_size" "$stored_sha" "$stored_size" \
        "$(json_field hash "$STATE_DIR/ship_status.json")" "$(basename "$snap")" "$(json_field totalKey "$STATE_DIR/ship_status.json")" \
        "${SHARED_PKI:+,\"sharedPKI\":$SHARED_PKI}" "${SECRETS_KEYS:+,\"secretsKeys\":$SECRETS_KEYS}" > "$manifest"
    put_snapshot "$enc" "$name.snapshot.db.age" "$stored_sha" "$stored_md5" || { rm -f "$enc"; return 1; }
    rm -f "$enc"
    put_manifest "$manifest" "$name.manifest.json" || return 1
    touch "$snap.shipped"
    echo "$name"
}

ETCD_VERSION=$("$ETCDCTL" --endpoints="$chosen_url" endpoint status -w json 2>/dev/null | sed -n 's/.*"version":"\([^"]*\)".*/\1/p')
shipped=""
upload_failed=""
# Oldest first, so a run after an outage ships what the outage left behind.
for snap in $(ls -1tr "$BACKUP_DIR"/etcd-snapshot-*.db 2>/dev/null); do
    [ -e "$snap.shipped" ] && continue
    if one=$(ship_one "$snap"); then
        shipped="$shipped $one"
    else
        upload_failed="$snap"
        break
    fi
done
if [ -n "$upload_failed" ]; then
    echo $(( $(read_state upload_failures 0) + 1 )) > "$STATE_DIR/upload_failures"
    log "upload of $(basename "$upload_failed") to $(store_location) failed: $(head -c 300 "$STATE_DIR/last_response" 2>/dev/null | tr '\n' ' ')"
else
    date +%s > "$STATE_DIR/last_upload"
fi
{{/ship}}
# Keep the newest $KEEP snapshots of this cluster on this member.
ls -1t "$BACKUP_DIR"/etcd-snapshot-*.db 2>/dev/null | tail -n +$(( KEEP + 1 )) | while read -r old; do
    rm -f "$old" "$old.shipped"
done

write_metrics
log "saved $final ($size bytes, status $(cat "$STATE_DIR/last_status.json"))"
{{#ship}}
[ -z "$upload_failed" ] || exit 1
log "shipped:${shipped:- nothing new} to $(store_location)"
{{/ship}}
