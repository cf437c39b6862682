#!/usr/bin/env bash
# Benchmark of issues 6, 14 and 21 (not a test; CI does not run it): builds the static release binary,
# sets up .venv-bench/ (matplotlib and the official dropbox SDK from PyPI), installs Debian's rclone
# when missing, generates SQLite databases of 64 MiB and 1 GiB once under $ENTRYPOINT_BENCH_DIR
# (default /var/tmp/entrypoint-bench), serves them from the fake Dropbox over TLS on loopback, and
# measures entrypoint's warm start, cold restore and backup (of a rollback-journal and of a WAL
# database) against openssl dgst, curl -o and a plain curl upload, with the seed's approach (the SDK)
# and rclone, interleaved. It prints the tables and rewrites the generated part of docs/benchmarks.md
# (between its GENERATED markers; the analysis around it is written by hand) and docs/benchmarks.png.
#
#   scripts/benchmark.sh [--reps 5,3] [--sizes 64,1024] [--out DIR] [--json FILE] [--wan 40ms,200mbit]
#
# --wan: the same scenarios over a shaped link (round-trip time, bandwidth); it writes only the WAN
# block of docs/benchmarks.md (docs/benchmarks.md, "WAN mode").
#
# The rclone rows need root (rclone runs in a private mount namespace whose /etc/hosts sends
# Dropbox's host names to the fake on 127.0.14.1:443); without it they are left out.
# About 7 to 10 minutes on 2 cores once the databases exist, plus the build (generating the
# databases the first time adds about a minute; docs/benchmarks.md, "How to rerun").
set -euo pipefail
export LC_ALL=C
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"

# Tools the measurement runs: /usr/bin/time (package time), curl, openssl, cmp, sync, python3 with
# venv, unshare; rclone for its rows (root only: it runs in a private mount namespace).
# As root the rclone rows are required: benchmark.py then fails naming the cause instead of leaving
# them out (a run that bypassed this script, on a machine without rclone, had none).
need=(time curl openssl diffutils util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
rclone_flag=()
if [[ $(id -u) == 0 ]]; then
    need+=(rclone)
    rclone_flag=(--require-rclone)
fi
apt_install_missing "${need[@]}"
if ((${#rclone_flag[@]})); then command -v rclone >/dev/null || die "rclone is not on PATH after apt-get install rclone"; fi

step "building the static release binary (scripts/build-static.sh)" >&2
scripts/build-static.sh >&2

venv=$repo/.venv-bench
if ! "$venv/bin/python" -c 'import matplotlib, dropbox' 2>/dev/null; then
    step "creating $venv with matplotlib and dropbox from PyPI" >&2
    venv_install "$venv" matplotlib dropbox
fi

step "measuring" >&2
exec "$venv/bin/python" "$repo/bench/benchmark.py" --binary "$repo/dist/entrypoint" --python "$venv/bin/python" \
    "${rclone_flag[@]}" "$@"
