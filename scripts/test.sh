#!/usr/bin/env bash
# Capstan's whole test suite: unit tests, integration tests against real sshd, etcd and S3 servers on
# loopback, then the lab tests (real systemd-nspawn hosts) one at a time. Builds once.
#   --fast      everything but the lab (no root needed for most): a few minutes, for iteration
#   --tag TAG   only the suites tagged TAG: unit, sshd, etcd, s3 or lab (repeatable; lab suites one at a time)
# Every suite carries one of those tags (Tests/TestSupport/Tags.swift); a suite without one fails the run.
set -euo pipefail
usage() { echo "usage: $0 [--fast | --tag unit|sshd|etcd|s3|lab ...]" >&2; exit 64; }
fast=false
tags=()
while [ $# -gt 0 ]; do
    case "$1" in
        --fast) fast=true ;;
        --tag)
            [ $# -ge 2 ] || usage
            case "$2" in unit|sshd|etcd|s3|lab) tags+=("$2") ;; *) usage ;; esac
            shift ;;
        *) usage ;;
    esac
    shift
done
if $fast && [ ${#tags[@]} -gt 0 ]; then usage; fi
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
swift build --build-tests
# The output is long; on failure the failed tests are repeated at the end so the tail of a CI log names them.
log=$(mktemp)
listing=$(mktemp)
trap 'rm -f "$log" "$listing"' EXIT
run() {
    if ! "$@" 2>&1 | tee "$log"; then
        echo
        echo "FAILED: $*"
        grep -E '✘|error:' "$log" | tail -n 40 || true
        exit 1
    fi
}
# The suites and their tags, from the test bundle's own listing.
"$(swift build --show-bin-path)/capstanPackageTests.xctest" --testing-library swift-testing --list-tests \
    --event-stream-output-path "$listing" --event-stream-version 0 >/dev/null
python3 scripts/test-tags.py check "$listing"
if [ ${#tags[@]} -gt 0 ]; then
    filters() { python3 scripts/test-tags.py select "$listing" "$@" | sed 's/^/--filter=/'; }
    others=()
    for tag in "${tags[@]}"; do [ "$tag" = lab ] || others+=("$tag"); done
    if [ ${#others[@]} -gt 0 ]; then
        mapfile -t selected < <(filters "${others[@]}")
        [ ${#selected[@]} -eq 0 ] || run swift test --skip-build "${selected[@]}"
    fi
    if [ ${#others[@]} -lt ${#tags[@]} ]; then
        mapfile -t selected < <(filters lab)
        run swift test --skip-build --no-parallel "${selected[@]}"
    fi
    exit 0
fi
run swift test --skip-build --skip LabTests
if $fast; then
    echo "--fast: lab tests skipped (run scripts/test.sh without --fast for the whole suite)"
    exit 0
fi
run swift test --skip-build --no-parallel --filter LabTests
