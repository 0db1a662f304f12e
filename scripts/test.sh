#!/usr/bin/env bash
# Capstan's whole test suite: unit tests, integration tests against real sshd, then the lab tests
# (real systemd-nspawn hosts) one at a time. Builds once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
swift build --build-tests
swift test --skip-build --skip LabTests
swift test --skip-build --no-parallel --filter LabTests
