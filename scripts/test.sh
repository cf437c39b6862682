#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). On a fresh Debian 12 machine with
# Swift 6.3 it installs what it needs (apt, pip into .venv), then runs, in order:
#   1. unit + integration tests (`swift test`, against the fake Dropbox over TLS)
#   2. the fake Dropbox's own self-test
#   3. railway.json schema, hadolint, shellcheck
#   4. the fully static build (size budget), which ends with scripts/demo.sh (the main job end to end
#      against the fake Dropbox: it fails on wrong rows), and the integration tests against that binary
#   5. the empty-root test and the podman container test
# Skip the slow container steps with ENTRYPOINT_SKIP_CONTAINER=1 (never in CI).
set -euo pipefail
die_label=FAIL
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"

step "apt: test dependencies"
apt_install_missing libcurl4-openssl-dev libsqlite3-dev libssl-dev openssl python3 file e2fsprogs mount util-linux

step "swift test (unit and integration, debug build)"
swift build --build-tests
swift test

step "fake Dropbox self-test"
python3 -m unittest discover -s Tests/fake-dropbox -p 'test_*.py'

step "configuration checks (railway.json schema, hadolint, shellcheck)"
bash scripts/check-config.sh

step "fully static build, then the one-command run (scripts/demo.sh)"
ENTRYPOINT_DEMO=1 bash scripts/build-static.sh

step "integration tests against the static binary dist/entrypoint"
ENTRYPOINT_BINARY="$repo/dist/entrypoint" swift test --skip-build --filter IntegrationTests

if [[ ${ENTRYPOINT_SKIP_CONTAINER:-} == 1 && ${CI:-} != true ]]; then
    step "container tests skipped (ENTRYPOINT_SKIP_CONTAINER=1)"
else
    step "empty-root test"
    bash scripts/test-emptyroot.sh
    step "container test (podman)"
    bash scripts/test-container.sh
fi
step "all tests passed"
