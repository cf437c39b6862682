# shellcheck shell=bash
# Helpers every script in scripts/ shares (sourced, not run): progress lines, the one-line failure,
# the apt install of what is missing, pip into a venv. The caller sets `set -euo pipefail` first.
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets $repo (the repository root) and $script (the caller's name without .sh, for messages).
# $die_label is the word after the name in a failure line: "error" unless the caller sets it
# (the test scripts set FAIL).
# shellcheck disable=SC2034  # repo and apt_updated are read by the callers

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
script=$(basename "$0" .sh)
die_label=${die_label:-error}
lib_start=$SECONDS
apt_opts=(-o DPkg::Lock::Timeout=600)
apt_updated=

# step MESSAGE...: a progress line with the seconds since the script started.
step() { printf '==> [%3ds] %s\n' "$((SECONDS - lib_start))" "$*"; }

# die MESSAGE...: one line on stderr naming the script and the cause, then exit 1.
die() {
    printf '%s: %s: %s\n' "$script" "$die_label" "$*" >&2
    exit 1
}

# missing_packages PKG...: prints those of PKG that dpkg does not list as installed.
missing_packages() {
    local pkg
    for pkg in "$@"; do
        [[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true) == ii* ]] || printf '%s\n' "$pkg"
    done
}

# apt_install PKG...: installs PKG (no recommends, quiet); runs apt-get update once and retries when
# the lists are empty or stale. Needs root; the apt log is shown only when it fails.
apt_install() {
    (($#)) || return 0
    [[ $(id -u) -eq 0 ]] || die "missing packages ($*) and not root: install them first"
    local log
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
        apt-get "${apt_opts[@]}" update -qq >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; die "apt-get update failed"; }
        apt_updated=1
        apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "$@" >"$log" 2>&1 ||
            { cat "$log" >&2; rm -f "$log"; die "apt-get install $* failed"; }
    fi
    rm -f "$log"
}

# apt_install_missing PKG...: installs those of PKG that are not installed (nothing when all are).
apt_install_missing() {
    local missing
    mapfile -t missing < <(missing_packages "$@")
    ((${#missing[@]})) || return 0
    step "apt: installing ${missing[*]}"
    apt_install "${missing[@]}"
}

# venv_install VENV REQUIREMENT...: pip-installs REQUIREMENT into VENV (created with python3 -m venv
# when it does not exist yet).
venv_install() {
    local venv=$1
    shift
    [[ -x $venv/bin/pip ]] || python3 -m venv "$venv" || die "python3 -m venv $venv failed"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" || die "pip install $* into $venv failed"
}
