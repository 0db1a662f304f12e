#!/usr/bin/env bash
# Capstan's whole test suite: unit tests, integration tests against real sshd, lab tests on real
# systemd-nspawn hosts. Builds once; lab tests run serially on one shared lab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prereqs.sh
swift build --build-tests
swift test --skip-build --parallel
