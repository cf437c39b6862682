# shellcheck shell=bash
# Helpers shared by scripts/test-emptyroot.sh and scripts/test-container.sh (sourced, not run):
# a small SQLite database, test certificates and the fake Dropbox server on 127.0.0.1.
# The caller sets `set -euo pipefail`, sources scripts/lib.sh first ($repo, die) and calls fake_stop
# in its EXIT trap.
# shellcheck disable=SC2034  # FAKE_TOKEN and FAKE_PORT are read by the callers

FAKE_TOKEN=entrypoint-ci-token
FAKE_PID=
FAKE_PORT=

# make_db PATH: a small SQLite database with a table `items` (rows printed as JSON on stdout).
make_db() {
    python3 - "$1" <<'PY'
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.executescript("""
    CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL);
    CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
""")
rows = [(1, "anchor bolt", 12), (2, "bearing 6204", 3), (3, "drive belt \u00e9t\u00e9", 7)]
conn.executemany("INSERT INTO items VALUES (?, ?, ?)", rows)
conn.execute("INSERT INTO notes (body) VALUES ('restored by entrypoint')")
conn.commit()
conn.close()
print(json.dumps([{"id": i, "name": n, "qty": q} for i, n, q in rows]))
PY
}

# fake_start STATE_DIR CERT_DIR SOURCE_DB: serve SOURCE_DB as /database.db; sets FAKE_PID, FAKE_PORT.
fake_start() {
    local state=$1 certs=$2 source=$3 i
    mkdir -p "$state"
    "${repo:?}/Tests/fake-dropbox/make_certs.sh" "$certs"
    python3 -c 'import json, sys; json.dump({"access_tokens": [sys.argv[1]], "files": {"/database.db": sys.argv[2]}}, open(sys.argv[3], "w"), indent=1)' \
        "$FAKE_TOKEN" "$source" "$state/config.json"
    rm -f "$state/port"
    python3 "$repo/Tests/fake-dropbox/fake_dropbox.py" --state "$state" --cert "$certs/server.pem" \
        --key "$certs/server.key" --host 127.0.0.1 --port 0 >"$state/server.log" 2>&1 &
    FAKE_PID=$!
    for ((i = 0; i < 100; i++)); do
        [[ -s $state/port ]] && break
        kill -0 "$FAKE_PID" 2>/dev/null || { cat "$state/server.log" >&2; die "fake Dropbox server exited"; }
        sleep 0.1
    done
    [[ -s $state/port ]] || die "fake Dropbox server wrote no port file within 10 s"
    FAKE_PORT=$(<"$state/port")
}

fake_stop() {
    if [[ -n $FAKE_PID ]]; then
        kill "$FAKE_PID" 2>/dev/null || true
        wait "$FAKE_PID" 2>/dev/null || true
        FAKE_PID=
    fi
}

# fake_count STATE_DIR ROUTE: how many requests the fake logged for ROUTE (e.g. files/download).
fake_count() {
    [[ -f $1/log.jsonl ]] || { echo 0; return; }
    python3 -c 'import json, sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l).get("route") == sys.argv[2]))' \
        "$1/log.jsonl" "$2"
}

# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
