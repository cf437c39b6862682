#!/usr/bin/env bash
# Empty-root test: the static binary, in a root that holds only itself, an empty /proc, /etc/hosts,
# the test CA and a static busybox, restores from the fake Dropbox on 127.0.0.1 and execs busybox.
#
#   scripts/test-emptyroot.sh [BINARY]      (default dist/entrypoint; build it with scripts/build-static.sh)
#
# Checks:
#   1. restore: exit 0, log line "Restored to /app/data/database/production.db", bytes equal the source,
#      and the exec'd busybox prints the file's header "SQLite format 3";
#   2. second start with the database unchanged and the test CA at Alpine's well-known path
#      /etc/ssl/cert.pem instead of SSL_CERT_FILE: the bundle is found there (debug log),
#      "No download needed (hash match)", no new download;
#   3. no CA anywhere in the root: the binary falls back to its embedded (Debian) bundle, which does not
#      know the test CA, so TLS verification fails: non-zero exit, busybox does not run, no file written.
# Needs root (unshare --mount --pid), python3, openssl; installs busybox-static if missing.
set -euo pipefail

die_label=FAIL
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
binary=$(realpath "${1:-$repo/dist/entrypoint}")
db_path=/app/data/database/production.db

# shellcheck source=scripts/lib-fake-dropbox.sh
. "$repo/scripts/lib-fake-dropbox.sh"

[[ -x $binary ]] || die "$binary not found: run scripts/build-static.sh first"
file -b "$binary" | grep -q 'statically linked' || die "$binary is not statically linked"
[[ $(id -u) -eq 0 ]] || die "needs root (unshare --mount --pid --root)"
if [[ ! -x /bin/busybox ]] || ! file -b /bin/busybox | grep -q 'statically linked'; then
    step "installing busybox-static"
    apt_install busybox-static
fi

work=$(mktemp -d /tmp/entrypoint-emptyroot.XXXXXX)
cleanup() {
    fake_stop
    rm -rf "$work"
}
trap cleanup EXIT

step "fake Dropbox with a small SQLite database"
make_db "$work/source.db" >/dev/null
fake_start "$work/fake" "$work/certs" "$work/source.db"
echo "    listening on 127.0.0.1:$FAKE_PORT"

root=$work/root
mkdir -p "$root/proc" "$root/etc" "$root/bin" "$root/app/data"
install -m 0755 "$binary" "$root/entrypoint"
install -m 0755 /bin/busybox "$root/bin/busybox"
install -m 0644 "$work/certs/ca.pem" "$root/ca.pem"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
step "root: $(cd "$root" && find . -mindepth 1 -not -type d | sort | tr '\n' ' ')($(du -sh "$root" | cut -f1))"

# run_root LOG [ENV...] -- ARGS...: run /entrypoint ARGS in the root, stderr to LOG, stdout printed.
run_root() {
    local log=$1
    shift
    local envs=()
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    env -i PATH=/bin "RAILWAY_DB_PATH=$db_path" "DROPBOX_ACCESS_TOKEN=$FAKE_TOKEN" \
        "DROPBOX_API_URL=https://127.0.0.1:$FAKE_PORT" "DROPBOX_CONTENT_URL=https://127.0.0.1:$FAKE_PORT" \
        "${envs[@]}" unshare --mount --pid --fork --mount-proc --root="$root" /entrypoint "$@" 2>"$log"
}
show_log() { sed 's/^/    | /' "$1"; }

# --- 1. restore, verify, exec -----------------------------------------------------------------
step "1. restore into the empty root, then exec /bin/busybox head -c 15 $db_path"
t0=$(date +%s%N)
status=0
out=$(run_root "$work/run1.log" SSL_CERT_FILE=/ca.pem -- /bin/busybox head -c 15 "$db_path") || status=$?
((status == 0)) || { show_log "$work/run1.log"; die "first start exited $status"; }
t1=$(date +%s%N)
show_log "$work/run1.log"
grep -q "Restored to $db_path" "$work/run1.log" || die "no 'Restored to $db_path' log line"
cmp "$work/source.db" "$root$db_path" || die "restored file differs from the source"
[[ $out == "SQLite format 3" ]] || die "exec'd busybox printed '$out', expected 'SQLite format 3'"
downloads=$(fake_count "$work/fake" files/download)
printf '    ok: restored %s bytes, identical; busybox ran after exec and printed "%s"; %.2f s\n' \
    "$(stat -c %s "$root$db_path")" "$out" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }')"

# --- 2. unchanged database: no download -------------------------------------------------------
step "2. second start, database unchanged, CA only at the well-known path /etc/ssl/cert.pem"
mkdir -p "$root/etc/ssl"
mv "$root/ca.pem" "$root/etc/ssl/cert.pem"
status=0
out=$(run_root "$work/run2.log" ENTRYPOINT_LOG_LEVEL=debug -- /bin/busybox echo exec-ok) || status=$?
((status == 0)) || { show_log "$work/run2.log"; die "second start exited $status"; }
show_log "$work/run2.log"
grep -q 'CA bundle /etc/ssl/cert.pem (well-known path)' "$work/run2.log" || die "the CA bundle at /etc/ssl/cert.pem was not used"
grep -q 'No download needed (hash match)' "$work/run2.log" || die "no 'No download needed (hash match)' log line"
[[ $(fake_count "$work/fake" files/download) -eq $downloads ]] || die "the second start downloaded again"
[[ $out == exec-ok ]] || die "exec'd busybox printed '$out', expected 'exec-ok'"
echo "    ok: hash match, no new files/download request, exec ok"

# --- 3. TLS verification is not switched off --------------------------------------------------
step "3. no CA in the root: embedded bundle, which does not know the test CA, so TLS must fail"
rm -f "$root$db_path" "$root/etc/ssl/cert.pem"
status=0
out=$(run_root "$work/run3.log" ENTRYPOINT_LOG_LEVEL=debug ENTRYPOINT_DEADLINE=30 -- /bin/busybox echo must-not-run) || status=$?
show_log "$work/run3.log"
grep -q 'CA bundle embedded at build time' "$work/run3.log" || die "the embedded CA bundle was not the one used"
((status != 0)) || die "entrypoint exited 0 although the server's certificate is not trusted"
[[ $out != must-not-run ]] || die "the command ran although the restore failed"
[[ ! -e $root$db_path ]] || die "a database file appeared although TLS verification failed"
echo "    ok: embedded bundle used, verification failed: exit $status, command not run, no database written"

step "empty-root test passed"
echo "3 passed, 0 failed"
