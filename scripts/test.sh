#!/usr/bin/env bash
# Capstan's whole test suite: unit tests, integration tests against real sshd, then the lab tests
# (real systemd-nspawn hosts) one at a time. Builds once.
#   --fast   unit and sshd tests only (no lab, no root needed for most): a few minutes, for iteration
set -euo pipefail
fast=false
case "${1:-}" in
    --fast) fast=true ;;
    "") ;;
    *) echo "usage: $0 [--fast]" >&2; exit 64 ;;
esac
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
swift build --build-tests
# The output is long; on failure the failed tests are repeated at the end so the tail of a CI log names them.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() {
    if ! "$@" 2>&1 | tee "$log"; then
        echo
        echo "FAILED: $*"
        grep -E '✘|error:' "$log" | tail -n 40 || true
        exit 1
    fi
}
run swift test --skip-build --skip LabTests
if $fast; then
    echo "--fast: lab tests skipped (run scripts/test.sh without --fast for the whole suite)"
    exit 0
fi
run swift test --skip-build --no-parallel --filter LabTests
