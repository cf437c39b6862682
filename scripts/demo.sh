#!/usr/bin/env bash
# The main job in one command, on this machine only: the real flow of an emergency, run by the built
# binary against the project's own fake Dropbox (Tests/fake-dropbox/fake_dropbox.py over TLS on
# 127.0.0.1, a throw-away CA, a fake token: no Dropbox account, no credentials, nothing leaves the
# machine). scripts/build-static.sh runs it last; scripts/test.sh runs that, so a wrong outcome here
# fails the tests.
#
#   1. a sample database (table items, 3 rows) is Dropbox's /database.db;
#   2. "Railway": entrypoint restores it into the volume and starts the example app (example/) under its
#      supervision, with the image's backup settings (ENTRYPOINT_BACKUP_ON_STOP=1, ..._INTERVAL=5m);
#   3. three bookings are written through the app's HTTP endpoint (POST /bookings);
#   4. SIGTERM, as `railway scale ... =0` sends: the app stops and the stop backup uploads the database;
#   5. "the main server": the same binary without a command pulls Dropbox's file into its own path;
#   6. checks (the rows, not just exit statuses) and a three-line summary.
# The product's own log lines are printed as they are, indented under each step. Only the URL settings
# "for tests only" (docs/configuration.md) point it at the fake; the product has no demo mode.
#
#   scripts/demo.sh [BINARY]     (default dist/entrypoint; build it with scripts/build-static.sh)
#
# Installs what it needs on a fresh Debian 12 machine: python3, python3-venv and openssl (apt), and the
# example app's pinned requirements (uvicorn) into .venv-demo/ (git-ignored; reused while
# example/requirements.txt is unchanged). Its files stay in .build-demo/ (git-ignored) for a look
# afterwards; every run starts it afresh.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/lib-fake-dropbox.sh
. "$repo/scripts/lib-fake-dropbox.sh"

binary=$(realpath "${1:-$repo/dist/entrypoint}")
[[ -x $binary ]] || die "$binary not found: run scripts/build-static.sh first"
venv=$repo/.venv-demo
demo=$repo/.build-demo
railway_db=$demo/railway/data/database/production.db
main_db=$demo/main-server/database/production.db
bookings=("Ada Lovelace, table for 2" "Grace Hopper, table for 4" "Edsger Dijkstra, table for 1")
app_pid=

cleanup() {
    if [[ -n $app_pid ]] && kill -0 "$app_pid" 2>/dev/null; then
        kill -KILL "$app_pid" 2>/dev/null || true
        wait "$app_pid" 2>/dev/null || true
    fi
    fake_stop
}
trap cleanup EXIT

# show LOG: prints the lines LOG gained since the last call, indented (the product's own lines).
declare -A shown=()
show() {
    local from=$((${shown[$1]:-0} + 1))
    sed -n "$from,\$p" "$1" | sed 's/^/    | /'
    shown[$1]=$(wc -l <"$1")
}

# --- what it needs --------------------------------------------------------------------------------
apt_install_missing python3 python3-venv openssl
stamp=$(sha256sum "$repo/example/requirements.txt" | cut -c1-16)
if [[ ! -x $venv/bin/uvicorn || $(cat "$venv/.requirements" 2>/dev/null || true) != "$stamp" ]]; then
    step "pip: the example app's requirements into ${venv#"$repo"/}"
    venv_install "$venv" -r "$repo/example/requirements.txt"
    printf '%s\n' "$stamp" >"$venv/.requirements"
fi

rm -rf "$demo"
mkdir -p "$demo/railway/data" "$demo/main-server"

# --- 1. Dropbox: the project's fake, holding a sample database ---------------------------------------
step "fake Dropbox on 127.0.0.1 (TLS, a throw-away CA) holding /database.db: a sample database"
make_db "$demo/sample.db" >/dev/null
fake_start "$demo/fake" "$demo/certs" "$demo/sample.db"
echo "    https://127.0.0.1:$FAKE_PORT, /database.db = $demo/sample.db (table items, 3 rows)"

# The product's environment: nothing inherited (no real Dropbox variable can slip in), the fake's URLs
# and CA, a fake token, the database paths; the rest is the shipped image's configuration.
port=$(free_port)
base_env=(PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" LANG=C.UTF-8
    DROPBOX_ACCESS_TOKEN="$FAKE_TOKEN" DROPBOX_DB_PATH=/database.db
    DROPBOX_API_URL="https://127.0.0.1:$FAKE_PORT" DROPBOX_CONTENT_URL="https://127.0.0.1:$FAKE_PORT"
    SSL_CERT_FILE="$demo/certs/ca.pem")

# --- 2. Railway: restore, then the app under supervision -----------------------------------------------
step "Railway: entrypoint uvicorn src.web.asgi:app --host 127.0.0.1 --port \$PORT  (PORT=$port)"
# shellcheck disable=SC2016  # '$PORT' is expanded by the entrypoint itself, as on Railway
(cd "$repo/example" && exec env -i "${base_env[@]}" RAILWAY_DB_PATH="$railway_db" PORT="$port" \
    ENTRYPOINT_BACKUP_INTERVAL=5m ENTRYPOINT_BACKUP_ON_STOP=1 PYTHONPATH="$repo/example" \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    "$binary" uvicorn src.web.asgi:app --host 127.0.0.1 --port '$PORT') >"$demo/railway.log" 2>&1 &
app_pid=$!
python3 - "$port" "$app_pid" <<'PY' || { show "$demo/railway.log"; die "the app did not answer on 127.0.0.1:$port within 30 s"; }
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit(1)
        time.sleep(0.1)
sys.exit(1)
PY
show "$demo/railway.log"

# --- 3. bookings through the app's HTTP endpoint -------------------------------------------------------
step "the app takes ${#bookings[@]} bookings: POST http://127.0.0.1:$port/bookings"
python3 - "$port" "${bookings[@]}" <<'PY' || { show "$demo/railway.log"; die "a booking was refused (answers above)"; }
import json, sys, urllib.request
port = sys.argv[1]
for name in sys.argv[2:]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/bookings", data=json.dumps({"name": name}).encode(),
                                 headers={"content-type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.load(resp)
        print(f"    {resp.status} {json.dumps(body, sort_keys=True)}")
        if resp.status != 201 or body.get("name") != name:
            sys.exit(1)
PY
show "$demo/railway.log"

# --- 4. stop: SIGTERM, the app's own shutdown, the stop backup -------------------------------------------
step "stop (SIGTERM to entrypoint, PID $app_pid, as Railway's scale to 0): the app stops, the stop backup uploads"
kill -TERM "$app_pid"
for ((i = 0; i < 600; i++)); do
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$app_pid" 2>/dev/null; then
    show "$demo/railway.log"
    die "entrypoint (PID $app_pid) still runs 60 s after SIGTERM"
fi
status=0
wait "$app_pid" || status=$?
app_pid=
show "$demo/railway.log"
# The supervisor exits with the app's own status; uvicorn ends a SIGTERM shutdown by re-raising the
# signal, so that is 128 + 15, as `docker stop` of the image shows too.
((status == 143)) || die "entrypoint exited with $status after SIGTERM (expected uvicorn's own 143)"
rev=$(sed -n 's|^entrypoint: Backed up .* to /database.db (rev \([^,)]*\).*|\1|p' "$demo/railway.log" | tail -n 1)
[[ -n $rev ]] || die "no 'Backed up ... to /database.db (rev ...)' line: the stop backup did not upload"

# --- 5. the main server pulls Dropbox's file ----------------------------------------------------------
step "main server: entrypoint (no command) pulls /database.db into ${main_db#"$demo"/}"
status=0
env -i "${base_env[@]}" RAILWAY_DB_PATH="$main_db" "$binary" >"$demo/main-server.log" 2>&1 || status=$?
show "$demo/main-server.log"
((status == 0)) || die "the main server's pull exited with $status"
grep -q "^entrypoint: Restored to $main_db\$" "$demo/main-server.log" || die "the pull logged no 'Restored to $main_db'"
grep -q "rev ${rev}[,)]" "$demo/main-server.log" || die "the pull did not take rev $rev, the stop backup's upload"

# --- 6. check the rows and summarize ------------------------------------------------------------------
step "checking the rows"
python3 - "$demo/sample.db" "$railway_db" "$main_db" "${bookings[@]}" <<'PY' || die "the main server's database is not the sample plus the bookings (above)"
import sqlite3, sys
sample, railway, main, want = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def rows(path, sql):
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()
items = "SELECT id, name, qty FROM items ORDER BY id"
booked = "SELECT name FROM bookings ORDER BY id"
failures = []
if rows(main, "PRAGMA integrity_check") != [("ok",)]:
    failures.append("integrity_check is not ok")
if rows(main, items) != rows(sample, items):
    failures.append(f"items {rows(main, items)} differ from the sample's {rows(sample, items)}")
got = [r[0] for r in rows(main, booked)]
if got != want:
    failures.append(f"bookings {got}, expected {want}")
if rows(railway, booked) != rows(main, booked):
    failures.append("the Railway volume's bookings differ from the main server's")
for f in failures:
    print(f"    FAIL: {f}", file=sys.stderr)
if failures:
    sys.exit(1)
print(f"    {main}: integrity ok, {len(rows(main, items))} items as in the sample, bookings: {', '.join(got)}")
PY

n=${#bookings[@]}
echo
echo "summary: Railway restored Dropbox's /database.db (3 items) from the fake Dropbox over TLS, verified, and started the app under entrypoint"
echo "summary: the app took $n bookings; on SIGTERM it stopped and the stop backup uploaded them to /database.db as rev $rev"
echo "summary: the main server's pull installed rev $rev at $main_db: 3 items and all $n bookings"
