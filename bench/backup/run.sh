#!/bin/sh
# Benchmark: encrypted `capstan backup now` against the plain pair a user would otherwise run
# (`etcdctl snapshot save` on the member + `scp` of the file to this machine), side by side in one
# run on a ~100 MiB etcd database on a lab member. Not a test: it prints and writes a results table.
#
#   bench/backup/run.sh                 # lab "bkp" (capstan lab up --name bkp first), 3 runs each
#   LAB=mylab RUNS=5 bench/backup/run.sh
#
# Needs root (lab hosts), a built capstan (CAPSTAN=path, default: release then debug build),
# openssl, ssh/scp and GNU time (/usr/bin/time). The lab's hosts are wiped and get a fresh cluster.
set -eu

LAB=${LAB:-bkp}
RUNS=${RUNS:-3}
TARGET_MIB=${TARGET_MIB:-100}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/capstan-bench-backup.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
. "$HERE/lib.sh"

# The lab's inventory, with the PKI state and an encrypted local store in the work directory.
openssl rand -out "$WORK/backup.key" 32
sed -e "s|encryptionKeyFile: .*|encryptionKeyFile: $WORK/backup.key|" \
    -e "s|        local: {}|        local:\n          path: $WORK/store|" \
    "$LABDIR/inventory.yaml" > "$WORK/inventory.yaml"
mkdir -p "$WORK/store"
ADDRS=$(awk '/address:/ {print $2}' "$WORK/inventory.yaml")
H1=$(echo "$ADDRS" | head -n 1)

echo "== wiping the lab hosts and bringing up etcd with capstan apply"
wipe_etcd $(echo "$ADDRS" | head -n 3)
"$CAPSTAN" apply -i "$WORK/inventory.yaml" > "$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log"; exit 1; }
fill_etcd "$H1" "$TARGET_MIB"

i=1
while [ "$i" -le "$RUNS" ]; do
    echo "== run $i"
    time_it capstan "'$CAPSTAN' backup now -i '$WORK/inventory.yaml'"
    time_it plain "ssh $SSH_OPTS root@$H1 '$ETCDCTL snapshot save /tmp/bench-snapshot.db >/dev/null' && scp -q $SSH_OPTS root@$H1:/tmp/bench-snapshot.db '$WORK/plain.db' && ssh $SSH_OPTS root@$H1 rm -f /tmp/bench-snapshot.db"
    i=$((i + 1))
done
STORED=$(ls -l "$WORK"/store/*.snapshot.db.enc | awk '{s+=$5} END {print int(s/NR)}')
PLAIN=$(stat -c %s "$WORK/plain.db")
cat "$WORK/times"

RESULTS="$HERE/results.md"
{
    echo "# etcd backup benchmark"
    echo
    echo "$(date -u +%Y-%m-%d), lab \`$LAB\` (systemd-nspawn hosts on this machine, $(nproc) cores shared), etcd $ETCD_VERSION with TLS,"
    echo "database $((DB / 1048576)) MiB of random 1 MiB values, $RUNS runs each, alternating, measured by \`bench/backup/run.sh\`."
    echo "capstan: $(basename "$(dirname "$CAPSTAN")") build; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "CPU is this machine's user+sys (the capstan process, or ssh+scp); etcdctl snapshot save on the member runs in both."
    echo
    echo "| run | capstan backup now (encrypted, streamed into the store) wall s | CPU s | etcdctl snapshot save + scp (plain) wall s | CPU s |"
    echo "|---|---|---|---|---|"
    awk '
        $1 == "capstan" { c++; cw[c] = $2; cc[c] = $3 + $4 }
        $1 == "plain"   { p++; pw[p] = $2; pc[p] = $3 + $4 }
        END {
            for (i = 1; i <= c; i++) { printf "| %d | %.2f | %.2f | %.2f | %.2f |\n", i, cw[i], cc[i], pw[i], pc[i]; tcw += cw[i]; tcc += cc[i]; tpw += pw[i]; tpc += pc[i] }
            printf "| mean | %.2f | %.2f | %.2f | %.2f |\n", tcw / c, tcc / c, tpw / p, tpc / p
            printf "\nWall-clock ratio capstan / plain: **%.2f×** (target: within 1.5×).\n", (tcw / c) / (tpw / p)
        }' "$WORK/times"
    echo
    echo "Stored object: $STORED bytes encrypted (AES-256-GCM chunks) vs $PLAIN bytes plain snapshot."
    echo "capstan's figure includes its own work the plain pair does not do: a healthy-member probe, \`snapshot status\`"
    echo "on the member, SHA-256 of plaintext and ciphertext, an encrypted tar of the PKI state, and the manifest."
} > "$RESULTS"
cat "$RESULTS"
