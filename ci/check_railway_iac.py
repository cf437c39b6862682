#!/usr/bin/env python3
"""Checks that .railway/railway.ts and railway.json say the same thing, and what only railway.ts says.

    python3 ci/check_railway_iac.py EVALUATED.json [railway.json] [Dockerfile]

EVALUATED.json is the output of ci/railway-iac/evaluate.ts (Deno runs railway.ts against the CI
stand-in of `railway/iac`). Every difference is one line on stderr naming the field; exit 1.
"""
import json
import pathlib
import re
import shlex
import sys

PARTIAL_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")  # the SDK's src/iac/partial.ts rule
MOUNT = "/app/data"
SECRETS = ("DROPBOX_APP_KEY", "DROPBOX_APP_SECRET", "DROPBOX_REFRESH_TOKEN")
SHARED_WITH_DOCKERFILE = ("ENTRYPOINT_BACKUP_INTERVAL", "ENTRYPOINT_BACKUP_ON_STOP")

evaluated_path = pathlib.Path(sys.argv[1])
json_path = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "railway.json")
dockerfile_path = pathlib.Path(sys.argv[3] if len(sys.argv) > 3 else "Dockerfile")
ts = ".railway/railway.ts"
errors = []

evaluated = json.loads(evaluated_path.read_text())
cfg = json.loads(json_path.read_text())

# --- partial ---------------------------------------------------------------------------------
partial = evaluated.get("partial")
if not isinstance(partial, str) or partial == "*" or not PARTIAL_NAME.fullmatch(partial):
    errors.append(f"{ts}: partial is {partial!r}: it must `export const partial = \"<name>\"` "
                  "(1-64 of [a-zA-Z0-9._-]), or applying it plans to delete every other resource of the project")

resources = evaluated.get("project", {}).get("resources", [])
services = [r for r in resources if r.get("type") == "service"]
volumes = {r["address"]: r for r in resources if r.get("type") == "volume"}
if len(services) != 1:
    errors.append(f"{ts}: declares {len(services)} services, expected exactly 1 (the one railway.json describes)")
    service = {}
else:
    service = services[0]

# --- the fields both files have: every key of build and deploy, in either file ----------------
for section in ("build", "deploy"):
    in_json = cfg.get(section, {})
    in_ts = service.get(section, {}) or {}
    for key in sorted(set(in_json) | set(in_ts)):
        a, b = in_json.get(key, "<unset>"), in_ts.get(key, "<unset>")
        if a != b:
            errors.append(f"{section}.{key} differs: railway.json {json.dumps(a)}, {ts} {json.dumps(b)}")
for key in sorted(set(cfg) - {"$schema", "build", "deploy"}):
    errors.append(f"railway.json: {key} has no counterpart in {ts}; compare it by hand or drop it")

# --- what only railway.ts can say ------------------------------------------------------------
attachments = service.get("volumeAttachments", {}) or {}
mounts = {a["mountPath"]: a for a in attachments.values()}
if MOUNT not in mounts:
    errors.append(f"{ts}: volumeMounts has no volume at {MOUNT} (mounts: {sorted(mounts) or 'none'})")
elif mounts[MOUNT]["volume"] not in volumes:
    errors.append(f"{ts}: the volume at {MOUNT} ({mounts[MOUNT]['volume']}) is not in project resources")

variables = service.get("variables", {}) or {}
for name in SECRETS:
    kind = variables.get(name, {}).get("type", "<unset>")
    if kind != "preserve":
        errors.append(f"{ts}: env.{name} is {kind}, expected preserve() (a secret is never written in the repository)")
for name, value in variables.items():
    if name not in SECRETS and value.get("type") == "literal" and re.search(r"SECRET|TOKEN|PASSWORD", name):
        errors.append(f"{ts}: env.{name} is a literal value; secrets must be preserve()")

# The Dockerfile's final stage ENV: the same backup settings as railway.ts.
text = re.sub(r"\\\n", " ", dockerfile_path.read_text())
final_env = {}
for line in text.splitlines():
    stripped = line.strip()
    if stripped.upper().startswith("FROM "):
        final_env = {}
    elif stripped.upper().startswith("ENV "):
        for word in shlex.split(stripped[4:]):
            if "=" in word:
                key, _, val = word.partition("=")
                final_env[key] = val
for name in SHARED_WITH_DOCKERFILE:
    in_ts = variables.get(name, {})
    ts_value = in_ts.get("value", "<unset>") if in_ts.get("type") in ("literal", None) else in_ts.get("type")
    df_value = final_env.get(name, "<unset>")
    if ts_value != df_value:
        errors.append(f"env.{name} differs: {dockerfile_path} ENV {df_value!r}, {ts} {ts_value!r}")

deploy = service.get("deploy", {}) or {}
stop_backup = (variables.get("ENTRYPOINT_BACKUP_ON_STOP", {}).get("value") or final_env.get("ENTRYPOINT_BACKUP_ON_STOP", "0"))
if stop_backup not in ("", "0", "false", "no", "off") and not (deploy.get("drainingSeconds") or 0) > 0:
    errors.append(f"deploy.drainingSeconds is {deploy.get('drainingSeconds')!r}: the stop backup "
                  "(ENTRYPOINT_BACKUP_ON_STOP) needs a window between SIGTERM and SIGKILL (Railway's default is 0 s)")
draining_var = variables.get("RAILWAY_DEPLOYMENT_DRAINING_SECONDS")
if draining_var is not None and draining_var.get("value") != str(deploy.get("drainingSeconds")):
    errors.append(f"env.RAILWAY_DEPLOYMENT_DRAINING_SECONDS differs: {draining_var.get('value', draining_var.get('type'))!r}, "
                  f"deploy.drainingSeconds {deploy.get('drainingSeconds')!r}")
if deploy.get("sleepApplication") is not False:
    errors.append(f"deploy.sleepApplication is {deploy.get('sleepApplication')!r}, expected false (no sleeping)")

db_literal = variables.get("RAILWAY_DB_PATH", {})
db_path = db_literal.get("value") if db_literal.get("type") == "literal" else final_env.get("RAILWAY_DB_PATH")
if db_path and not db_path.startswith(MOUNT + "/"):
    errors.append(f"RAILWAY_DB_PATH {db_path} is not on the volume at {MOUNT}")

if errors:
    for e in errors:
        print(f"check-config: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
print(f"ok -- {ts} (partial {partial!r}) and railway.json agree on "
      f"{len(cfg.get('build', {})) + len(cfg.get('deploy', {}))} fields; volume at {MOUNT}; "
      f"{', '.join(SECRETS)} preserve(); {', '.join(f'{n}={final_env[n]}' for n in SHARED_WITH_DOCKERFILE)} "
      f"as in the Dockerfile; drainingSeconds {deploy.get('drainingSeconds')}")
