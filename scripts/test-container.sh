#!/usr/bin/env bash
# Real container test with podman + runc (no Docker engine needed), as in
# shared/reference/container-testing.md §4:
#   - a python:3.12-slim stand-in built with mmdebstrap (cached under /var/cache/entrypoint-ci, keyed by a
#     hash of the mmdebstrap command) is imported as docker.io/library/python:3.12-slim;
#   - the UNCHANGED Dockerfile is built with `--build-context build=DIR`, DIR holding the host-built
#     static binary, so `COPY --from=build /entrypoint` takes it and the Swift stage is skipped;
#   - the image runs against the fake Dropbox on 127.0.0.1 (--network host) and the script checks:
#       restored + verified ("Restored to ..." and identical bytes), uvicorn is PID 1 (with the image's
#       backups overridden to off: ENTRYPOINT_BACKUP_INTERVAL=0, ENTRYPOINT_BACKUP_ON_STOP=0), $PORT was expanded
#       (the app answers on the port given only through the PORT variable), uvicorn runs as the image's
#       unprivileged user (ENTRYPOINT_APP_USER=app, uid 10001) without the Dropbox secrets and can still write
#       the database (the bookings of start 3), GET / returns the rows of the
#       restored database, `podman stop` ends it with exit code 0 and uvicorn's graceful shutdown, and a
#       second start with the database unchanged logs "No download needed (hash match)" and downloads nothing
#       (that start runs railway.json's deploy.startCommand in place of ENTRYPOINT + CMD, as Railway does).
#
#   scripts/test-container.sh [BINARY]      (default dist/entrypoint; build it with scripts/build-static.sh)
#
# Environment: ENTRYPOINT_CI_CACHE (default /var/cache/entrypoint-ci) for the base tarball,
# ENTRYPOINT_CI_STATE (default /var/tmp/entrypoint-ci) for podman's configuration and storage.
set -euo pipefail

die_label=FAIL
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
binary=$(realpath "${1:-$repo/dist/entrypoint}")
cache=${ENTRYPOINT_CI_CACHE:-/var/cache/entrypoint-ci}
image=localhost/entrypoint-app:ci
base_ref=docker.io/library/python:3.12-slim
db_path=/app/data/database/production.db
host_ca=/etc/ssl/certs/ca-certificates.crt

# shellcheck source=scripts/lib-fake-dropbox.sh
. "$repo/scripts/lib-fake-dropbox.sh"

[[ -x $binary ]] || die "$binary not found: run scripts/build-static.sh first"
[[ $(id -u) -eq 0 ]] || die "needs root (podman with runc, as on CI)"

# --- packages and podman (runc, cgroupfs, file events, lowered ulimits, overlay storage) --------
# shellcheck source=scripts/lib-podman.sh
. "$repo/scripts/lib-podman.sh"
podman_setup
apt_install_missing mmdebstrap zstd curl
mkdir -p "$cache"

work=$(mktemp -d /tmp/entrypoint-container.XXXXXX)
containers=()
cleanup() {
    local c
    for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    fake_stop
    rm -rf "$work"
}
trap cleanup EXIT

# --- base image: python:3.12-slim stand-in ------------------------------------------------------
# Debian's python3 with pip, no PEP 668 marker, docs/man/locales dropped; mmdebstrap runs only when
# the command changed or the cache is empty (33-58 s cold on 2 cores).
# shellcheck disable=SC2016  # "$1" is for mmdebstrap's hook shell
mmdebstrap_cmd=(mmdebstrap --variant=minbase "--include=python3,python3-pip,python3-venv,python-is-python3,ca-certificates"
    "--dpkgopt=path-exclude=/usr/share/man/*" "--dpkgopt=path-exclude=/usr/share/doc/*"
    "--dpkgopt=path-exclude=/usr/share/locale/*"
    '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' bookworm)
key=$(printf '%s\n' "${mmdebstrap_cmd[@]}" | sha256sum | cut -c1-16)
tarball=$cache/pyslim-$key.tar.zst
if [[ ! -s $tarball ]]; then
    step "building the base rootfs with mmdebstrap (cold: ~40 s)"
    "${mmdebstrap_cmd[@]}" "$tarball.tmp.tar.zst" >"$work/mmdebstrap.log" 2>&1 ||
        { tail -n 30 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
    mv "$tarball.tmp.tar.zst" "$tarball"
    find "$cache" -name 'pyslim-*.tar.zst' ! -name "pyslim-$key.tar.zst" -delete
else
    step "base rootfs cached: $tarball"
fi
current=$(podman image inspect --format '{{index .Config.Labels "entrypoint.ci.base"}}' "$base_ref" 2>/dev/null || true)
if [[ $current != "$key" ]]; then
    step "podman import -> $base_ref"
    podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' --change "LABEL entrypoint.ci.base=$key" \
        "$tarball" "$base_ref" >"$work/import.log" 2>&1 || { cat "$work/import.log" >&2; die "podman import failed"; }
else
    step "base image $base_ref up to date"
fi

# --- build the unchanged Dockerfile -------------------------------------------------------------
mkdir -p "$work/build-context"
install -m 0755 "$binary" "$work/build-context/entrypoint"
step "podman build (Dockerfile unchanged; build stage replaced by --build-context build=<host binary>)"
podman build --pull=never --isolation chroot --network host \
    -v "$host_ca:/etc/ssl/certs/ca-certificates.crt:ro" \
    --build-context "build=$work/build-context" -t "$image" -f "$repo/Dockerfile" "$repo" >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; die "podman build failed"; }
inspect=$(podman image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.WorkingDir}}' "$image")
echo "    image: $inspect"
version=$(podman run --rm --network host "$image" --version 2>&1) || die "'entrypoint --version' failed in the image: $version"
echo "    entrypoint --version in the image: $version"

# --- fake Dropbox -------------------------------------------------------------------------------
step "fake Dropbox on 127.0.0.1 with a small SQLite database"
expected=$(make_db "$work/source.db")
fake_start "$work/fake" "$work/certs" "$work/source.db"
mkdir -p "$work/ca" "$work/data"
install -m 0644 "$work/certs/ca.pem" "$work/ca/ca.pem"
echo "    listening on 127.0.0.1:$FAKE_PORT"

# Extra `podman run` options of the next run_container call, and its stop timeout.
run_env=(-e ENTRYPOINT_BACKUP_INTERVAL=0 -e ENTRYPOINT_BACKUP_ON_STOP=0)
stop_timeout=10

# run_container NAME PORT [--entrypoint BIN ARGS...]: start the image detached; wait until the app
# answers HTTP on PORT (any status) or the container dies; then require 200 from /healthz.
run_container() {
    local name=$1 port=$2 i code=000
    shift 2
    local override=()
    if (($#)); then
        override=("$1" "$2")
        shift 2
    fi
    # The image enables periodic and on-stop backups (ENV ENTRYPOINT_BACKUP_INTERVAL=5m,
    # ENTRYPOINT_BACKUP_ON_STOP=1), with which the entrypoint stays PID 1 and supervises uvicorn.
    # Starts 1 and 2 assert the exec path (uvicorn is PID 1, its own graceful stop), so both are
    # overridden to off there (run_env); start 3 is the supervised round trip.
    podman run -d --name "$name" --network host --stop-timeout "$stop_timeout" "${override[@]}" \
        "${run_env[@]}" \
        -e "PORT=$port" -e "DROPBOX_ACCESS_TOKEN=$FAKE_TOKEN" \
        -e "DROPBOX_API_URL=https://127.0.0.1:$FAKE_PORT" -e "DROPBOX_CONTENT_URL=https://127.0.0.1:$FAKE_PORT" \
        -e SSL_CERT_FILE=/certs/ca.pem -v "$work/ca:/certs:ro" -v "$work/data:/app/data" "$image" "$@" >/dev/null
    containers+=("$name")
    for ((i = 0; i < 300; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz" 2>/dev/null || true)
        [[ $code != 000 ]] && break
        if [[ $(podman inspect --format '{{.State.Running}}' "$name") != true ]]; then
            podman logs "$name" 2>&1 | tail -n 60 | sed 's/^/    | /' >&2
            die "container $name exited with $(podman inspect --format '{{.State.ExitCode}}' "$name") before answering"
        fi
        sleep 0.1
    done
    if [[ $code != 200 ]]; then
        podman logs "$name" 2>&1 | tail -n 60 | sed 's/^/    | /' >&2
        [[ $code == 000 ]] && die "container $name did not answer on port $port within 30 s (\$PORT not expanded?)"
        die "GET /healthz answered $code, expected 200 (database not restored?)"
    fi
}

# stop_container NAME [CODE]: podman stop, expect exit code CODE (default 0) and uvicorn's graceful
# shutdown.
stop_container() {
    local name=$1 want=${2:-0} t0 code
    t0=$(date +%s%N)
    podman stop "$name" >/dev/null
    code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
    podman logs "$name" >"$work/$name.log" 2>&1
    sed 's/^/    | /' "$work/$name.log"
    [[ $code == "$want" ]] || die "podman stop: $name exited with $code, expected $want (SIGTERM not handled?)"
    grep -q 'Application shutdown complete' "$work/$name.log" || die "no graceful-shutdown line from uvicorn"
    printf '    ok: stopped in %s s with exit code %s, "Application shutdown complete"\n' \
        "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" "$code"
}

# check_app_user NAME PID: PID (uvicorn) runs as the image's unprivileged user `app` (uid 10001: its
# real, effective, saved and file-system uid and gid, and no supplementary group but its own), its
# environment holds no Dropbox secret, and the database and its directory on the volume are app's.
check_app_user() {
    local name=$1 pid=$2 status envnames ids groups
    status=$(podman exec "$name" grep -E '^(Uid|Gid|Groups):' "/proc/$pid/status") ||
        die "cannot read /proc/$pid/status in $name"
    ids=$(awk '$1 == "Uid:" || $1 == "Gid:" { print $2, $3, $4, $5 }' <<<"$status" | sort -u)
    groups=$(awk '$1 == "Groups:" { print $2 $3 }' <<<"$status")
    if [[ $ids != "10001 10001 10001 10001" || $groups != 10001 ]]; then
        echo "$status" >&2
        die "pid $pid in $name does not run as uid/gid 10001 (ENTRYPOINT_APP_USER=app)"
    fi
    # Read as the app's own user: root without CAP_SYS_PTRACE may not read another uid's environ.
    envnames=$(podman exec --user 10001:10001 "$name" sh -c "tr '\\0' '\\n' < /proc/$pid/environ | cut -d= -f1") ||
        die "cannot read /proc/$pid/environ in $name as uid 10001"
    grep -qx PORT <<<"$envnames" || { echo "$envnames" >&2; die "/proc/$pid/environ in $name has no PORT: not the app's environment"; }
    ! grep -qx 'DROPBOX_ACCESS_TOKEN' <<<"$envnames" || die "the app's environment holds DROPBOX_ACCESS_TOKEN"
    [[ $(stat -c %u:%g "$work/data/database" "$work/data/database/production.db" | sort -u) == 10001:10001 ]] ||
        { ls -ln "$work/data/database" >&2; die "the database or its directory does not belong to 10001:10001"; }
    echo "    ok: pid $pid runs as uid/gid 10001 (app), groups 10001, without DROPBOX_ACCESS_TOKEN; the database is app's"
}

# --- first start: restore ---------------------------------------------------------------------
port=$(free_port)
name1=entrypoint-ci-$$-1
step "1. podman run (PORT=$port, empty volume): restore, then exec uvicorn"
t0=$(date +%s%N)
run_container "$name1" "$port"
printf '    answering after %s s\n' "$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
podman logs "$name1" >"$work/run1.log" 2>&1
grep -q "Restored to $db_path" "$work/run1.log" || { sed 's/^/    | /' "$work/run1.log" >&2; die "no 'Restored to $db_path' log line"; }
cmp "$work/source.db" "$work/data/database/production.db" || die "restored database differs from the source"
echo "    ok: 'Restored to $db_path', bytes identical to the source"

top=$(podman top "$name1" pid args)
pid1=$(awk '$1 == 1 { $1 = ""; print substr($0, 2) }' <<<"$top")
[[ $pid1 == *uvicorn* ]] || { echo "$top" >&2; die "PID 1 is '$pid1', expected uvicorn (the entrypoint must execve)"; }
[[ $pid1 == *"--port $port"* ]] || die "PID 1's argv '$pid1' does not carry the expanded port $port"
echo "    ok: PID 1 is: $pid1"
# ENTRYPOINT_APP_USER=app (the image's): uvicorn runs as the unprivileged user, with no Dropbox secret.
check_app_user "$name1" 1

curl -fsS "http://127.0.0.1:$port/" >"$work/get.json" || die "GET / on port $port failed"
python3 - "$work/get.json" "$expected" <<'PY' || die "GET / did not return the restored database's rows"
import json, sys
got = json.load(open(sys.argv[1]))
want = json.loads(sys.argv[2])
assert got["items"] == want, f"items {got['items']} != {want}"
assert got["tables"] == {"items": len(want), "notes": 1}, f"tables {got['tables']}"
assert got["database"] == "/app/data/database/production.db", got["database"]
print(f"    ok: GET / on the expanded $PORT returned {len(got['items'])} items and tables {got['tables']}")
PY
downloads=$(fake_count "$work/fake" files/download)
stop_container "$name1"

# --- second start: unchanged database, no download; Railway's start command ---------------------
# Railway runs deploy.startCommand in exec form *instead of* ENTRYPOINT (and CMD), without a shell:
# this start uses railway.json's startCommand, split into words, as the whole command line.
mapfile -t start_argv < <(python3 -c 'import json, shlex, sys; print("\n".join(shlex.split(json.load(open(sys.argv[1]))["deploy"]["startCommand"])))' "$repo/railway.json")
((${#start_argv[@]} >= 2)) || die "railway.json has no usable deploy.startCommand"
port=$(free_port)
name2=entrypoint-ci-$$-2
step "2. podman run again (PORT=$port, same volume, database unchanged) with railway.json's startCommand"
echo "    command: ${start_argv[*]}"
run_container "$name2" "$port" --entrypoint "${start_argv[@]}"
podman logs "$name2" >"$work/run2.log" 2>&1
grep -q 'No download needed (hash match)' "$work/run2.log" ||
    { sed 's/^/    | /' "$work/run2.log" >&2; die "no 'No download needed (hash match)' log line"; }
after=$(fake_count "$work/fake" files/download)
[[ $after -eq $downloads ]] || die "the second start made $((after - downloads)) new files/download request(s)"
echo "    ok: 'No download needed (hash match)', files/download requests still $downloads"
stop_container "$name2"

# --- third start: the round trip -----------------------------------------------------------------
# The image's own configuration (supervision, periodic and on-stop backups) with a short interval and
# a draining window; the app takes bookings; the container is stopped as Railway stops it (SIGTERM,
# then SIGKILL at the end of the window); then the "main server" pulls Dropbox's copy on the host.
port=$(free_port)
name3=entrypoint-ci-$$-3
step "3. round trip: podman run with the image's backups (interval 2s, on stop, draining 30 s), bookings, stop, main-server pull"
run_env=(-e ENTRYPOINT_BACKUP_INTERVAL=2s -e RAILWAY_DEPLOYMENT_DRAINING_SECONDS=30)
stop_timeout=30
run_container "$name3" "$port"
top=$(podman top "$name3" pid args)
pid1=$(awk '$1 == 1 { $1 = ""; print substr($0, 2) }' <<<"$top")
[[ $pid1 == *entrypoint* ]] || { echo "$top" >&2; die "PID 1 is '$pid1', expected the supervising entrypoint"; }
grep -q uvicorn <<<"$top" || { echo "$top" >&2; die "uvicorn is not running under the entrypoint"; }
echo "    ok: PID 1 is the entrypoint, supervising uvicorn"
[[ $(podman exec "$name3" awk '$1 == "Uid:" { print $2 }' /proc/1/status) == 0 ]] || die "the supervising entrypoint is not root"
uvicorn_pid=$(awk '$1 != 1 && /uvicorn/ { print $1; exit }' <<<"$top")
check_app_user "$name3" "$uvicorn_pid"
# The supervisor keeps the secrets in its environment: the app's user must not be able to read it.
if podman exec --user 10001:10001 "$name3" cat /proc/1/environ >/dev/null 2>&1; then
    die "uid 10001 can read the supervising entrypoint's /proc/1/environ (the Dropbox secrets)"
fi
echo "    ok: uid 10001 cannot read the supervisor's /proc/1/environ"
book() {
    local code
    code=$(curl -s -o "$work/booking.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data "{\"name\": \"$1\"}" "http://127.0.0.1:$port/bookings")
    [[ $code == 201 ]] || { cat "$work/booking.json" >&2; die "POST /bookings answered $code, expected 201"; }
}
for n in ann bob cem; do book "$n"; done
# A periodic backup uploads the first bookings while the app runs.
for ((i = 0; i < 300; i++)); do
    podman logs "$name3" 2>&1 | grep -q 'Backed up' && break
    sleep 0.1
done
podman logs "$name3" 2>&1 | grep -q 'Backed up' ||
    { podman logs "$name3" 2>&1 | tail -n 40 | sed 's/^/    | /' >&2; die "no periodic backup within 30 s"; }
echo "    ok: a periodic backup uploaded the database while the app ran"
# These last ones only the stop backup can carry.
for n in dee eve; do book "$n"; done
before=$(podman logs "$name3" 2>&1 | grep -c 'Backed up' || true)
# uvicorn ends a graceful shutdown by re-raising SIGTERM. As PID 1 (starts 1 and 2) the kernel drops
# it and the status is 0; under the supervisor uvicorn is not PID 1, dies of it, and the supervisor
# exits with uvicorn's own status, 128 + 15.
stop_container "$name3" 143
after=$(grep -c 'Backed up' "$work/$name3.log" || true)
((after > before)) || die "no backup at the stop ($before 'Backed up' lines before podman stop, $after after)"
echo "    ok: the stop backup uploaded the last bookings; exit code 143, uvicorn's own"

# The main server: its own database is the pre-emergency file; the app there is stopped.
mkdir -p "$work/main-server"
cp "$work/source.db" "$work/main-server/production.db"
env -i PATH=/usr/bin:/bin RAILWAY_DB_PATH="$work/main-server/production.db" DROPBOX_ACCESS_TOKEN="$FAKE_TOKEN" \
    DROPBOX_API_URL="https://127.0.0.1:$FAKE_PORT" DROPBOX_CONTENT_URL="https://127.0.0.1:$FAKE_PORT" \
    SSL_CERT_FILE="$work/certs/ca.pem" "$binary" >"$work/pull.log" 2>&1 ||
    { sed 's/^/    | /' "$work/pull.log" >&2; die "the main server's pull failed"; }
sed 's/^/    | /' "$work/pull.log"
python3 - "$work/main-server/production.db" <<'PY' || die "the main server's database lacks bookings made during the emergency"
import sqlite3, sys
names = [r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT name FROM bookings ORDER BY id")]
assert names == ["ann", "bob", "cem", "dee", "eve"], names
print(f"    ok: the main server's database holds every booking: {names}")
PY

step "container test passed"
echo "10 passed, 0 failed"
