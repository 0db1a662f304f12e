#!/usr/bin/env bash
# Capstan's main job on this machine: bring up the local lab (three systemd-nspawn hosts with sshd)
# and converge the lab inventory on it, then show the cluster's state and take a backup.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
swift build --product capstan
bin=$(swift build --show-bin-path)/capstan

"$bin" lab up
inventory=/var/lib/capstan/lab/default/inventory.yaml
"$bin" validate -i "$inventory"
"$bin" plan -i "$inventory"
"$bin" apply -i "$inventory"
"$bin" status -i "$inventory"
echo
echo "The lab stays up: try '$bin status -i $inventory', '$bin lab ssh h1', and '$bin lab down' when done."
