#!/usr/bin/env bash
# Build the fully static `entrypoint` binary into dist/entrypoint.
#
# One script for CI, the Dockerfile's build stage and humans. Steps:
#   1. install the Debian build dependencies that are missing (apt is skipped when all are present);
#   2. build a minimal static libcurl from Debian's own curl source package, cached outside the clone
#      under $ENTRYPOINT_DEPS/curl-<source version> (a rerun with the same version reuses it);
#   3. generate Sources/CShims/embedded_ca.inc (git-ignored) from the certificates that Debian's
#      ca-certificates package ships (the Mozilla set), never from local additions;
#   4. swift build -c release -static-executable against that libcurl and Debian's static archives;
#   5. strip into dist/entrypoint and check: statically linked, not a dynamic executable, <= 16 MiB;
#   6. run it: --version (names the injected version and commit), a command exec'd through it;
#   7. scripts/demo.sh: the main job end to end against the project's fake Dropbox on loopback.
#
# Environment:
#   ENTRYPOINT_DEPS      cache for the static libcurl (default /var/cache/entrypoint-deps)
#   ENTRYPOINT_MAX_BYTES size budget of the stripped binary (default 16 MiB = 16777216)
#   ENTRYPOINT_EMBED_CA  a PEM bundle to embed instead of Debian's Mozilla set
#   ENTRYPOINT_VERSION   the version --version prints (default: the source's, Sources/CShims/build_info.c)
#   ENTRYPOINT_COMMIT    the commit --version prints (default: git rev-parse HEAD, "-dirty" if changed)
#   ENTRYPOINT_DEMO      0: skip step 7 (default 1)
#   SWIFT                the swift driver (default: swift on PATH)
# Facts behind the choices: shared/reference/static-build.md.
set -euo pipefail
export LC_ALL=C

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
deps_root=${ENTRYPOINT_DEPS:-/var/cache/entrypoint-deps}
max_bytes=${ENTRYPOINT_MAX_BYTES:-$((16 * 1024 * 1024))}
swift=${SWIFT:-swift}
scratch=.build-static
build_deps=(libssl-dev libsqlite3-dev libnghttp2-dev zlib1g-dev dpkg-dev gcc make file binutils ca-certificates)
ca_dir=/usr/share/ca-certificates/mozilla
ca_inc="$repo/Sources/CShims/embedded_ca.inc"
info_inc="$repo/Sources/CShims/build_info.inc"
srclist=/etc/apt/sources.list.d/entrypoint-deb-src.sources

tmp=$(mktemp -d)
own_srclist=
cleanup() {
    [[ -z $own_srclist ]] || rm -f "$srclist"
    rm -rf "$tmp"
}
trap cleanup EXIT

command -v "$swift" >/dev/null || die "swift not found (set SWIFT=/path/to/swift)"

# --- 1. apt build dependencies ----------------------------------------------------------------
mapfile -t missing < <(missing_packages "${build_deps[@]}")
if ((${#missing[@]})); then
    step "installing build dependencies: ${missing[*]}"
    apt_install "${missing[@]}"
else
    step "build dependencies present (${#build_deps[@]} packages), apt skipped"
fi

# --- 2. minimal static libcurl from Debian's curl source package ------------------------------
# The cache key is the curl *source* version that the current apt lists offer. It is read from the
# binary package libcurl4 (its Source: field names the source version when it differs), so a warm run
# needs neither deb-src nor network.
curl_source_version() {
    apt-cache show --no-all-versions libcurl4 2>/dev/null | awk '
        /^Version:/ { v = $2 } /^Source:/ && $3 != "" { s = $3 }
        END { gsub(/[()]/, "", s); if (v == "") exit 1; print (s != "" ? s : v) }'
}
if ! curl_version=$(curl_source_version); then
    [[ -z $apt_updated ]] || die "apt knows no libcurl4 package even after apt-get update"
    step "apt lists are empty: apt-get update"
    apt-get "${apt_opts[@]}" update -qq
    curl_version=$(curl_source_version) || die "apt knows no libcurl4 package"
fi
prefix="$deps_root/curl-$curl_version"

curl_cached() { [[ -f $prefix/.complete && -f $prefix/lib/libcurl.a ]]; }
if ! curl_cached; then
    [[ $(id -u) -eq 0 ]] || die "building libcurl needs root (apt-get source with a deb-src list)"
    mkdir -p "$deps_root"
    # One builder at a time per cache; a concurrent run waits and then finds the result.
    exec 9>"$deps_root/.lock"
    flock 9
fi
if curl_cached; then
    step "static libcurl $curl_version cached at $prefix"
else
    step "building static libcurl $curl_version into $prefix"
    # A deb-src list of our own, mirroring the Debian suites already configured. apt works on a
    # private state and cache directory, so the system's lists are not touched and no second
    # apt-get update is needed afterwards; the list file goes away in the EXIT trap.
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')
    [[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release"
    {
        shopt -s nullglob
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -f $f ]] || continue
            # one-line format: drop "[option=...]" and keep "deb URI SUITE" of this release.
            awk -v c="$codename" '{ sub(/\[[^]]*\]/, "") }
                $1 == "deb" && ($3 == c || $3 == c "-updates" || $3 == c "-security") {
                printf "Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\n\n", $2, $3 }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ $f == */entrypoint-deb-src.sources ]] && continue
            # deb822: keep stanzas of type deb whose suites are this release's; rewrite the type.
            awk -v c="$codename" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && uris != "" && suites != "") {
                        n = split(suites, s, " "); keep = ""
                        for (i = 1; i <= n; i++) if (s[i] == c || s[i] == c "-updates" || s[i] == c "-security") keep = keep " " s[i]
                        if (keep != "") {
                            printf "Types: deb-src\nURIs: %s\nSuites:%s\nComponents: main\n", uris, keep
                            if (signed != "") printf "Signed-By: %s\n", signed
                            printf "\n"
                        }
                    }
                    types = uris = suites = signed = ""
                }
                /^[ \t]*$/ { flush(); next }
                /^#/ { next }
                /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0; next }
                /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0; next }
                /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0; next }
                /^Signed-By:/ { sub(/^Signed-By:[ \t]*/, ""); signed = $0; next }
                END { flush() }' "$f"
        done
    } >"$tmp/deb-src.sources"
    grep -q '^Types: deb-src' "$tmp/deb-src.sources" || die "no Debian $codename suites found in the apt sources"
    own_srclist=1
    cp "$tmp/deb-src.sources" "$srclist"
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/src"
    apt_src=("${apt_opts[@]}" -o "Dir::Etc::SourceList=$srclist" -o Dir::Etc::SourceParts=- \
        -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o APT::Sandbox::User=root)
    step "apt-get update (deb-src only, private lists)"
    apt-get "${apt_src[@]}" update -qq
    step "apt-get source curl=$curl_version"
    (cd "$tmp/src" && { apt-get "${apt_src[@]}" source -qq "curl=$curl_version" >"$tmp/source.log" 2>&1 ||
        apt-get "${apt_src[@]}" source -qq curl >"$tmp/source.log" 2>&1; }) ||
        { cat "$tmp/source.log" >&2; die "apt-get source curl failed"; }
    rm -f "$srclist"
    own_srclist=
    srcdir=$(find "$tmp/src" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -n1)
    [[ -n $srcdir ]] || die "apt-get source produced no curl-* directory"
    got=$(cd "$srcdir" && dpkg-parsechangelog -S Version)
    if [[ $got != "$curl_version" ]]; then
        printf 'build-static: warning: archive has curl %s, apt lists said %s\n' "$got" "$curl_version" >&2
        curl_version=$got
        prefix="$deps_root/curl-$curl_version"
    fi

    stage="$prefix.tmp.$$"
    rm -rf "$stage"
    step "configure (minimal: https + http2 + zlib, threaded resolver)"
    (cd "$srcdir" && ./configure --prefix="$stage" --disable-shared --enable-static \
        --with-openssl --with-nghttp2 --with-zlib --enable-threaded-resolver \
        --without-libpsl --without-libidn2 --without-librtmp --without-libssh2 --without-libssh \
        --without-gssapi --without-zstd --without-brotli --without-libgsasl \
        --disable-ldap --disable-ldaps --disable-rtsp --disable-dict --disable-telnet --disable-tftp \
        --disable-pop3 --disable-imap --disable-smtp --disable-gopher --disable-mqtt --disable-smb \
        --disable-ftp --disable-file --disable-manual >"$tmp/configure.log" 2>&1) ||
        { tail -n 40 "$tmp/configure.log" >&2; die "curl configure failed (log above)"; }
    step "make -C lib (-j$(nproc))"
    (cd "$srcdir" && make -C lib -j"$(nproc)" >"$tmp/make.log" 2>&1 &&
        make -C lib install >>"$tmp/make.log" 2>&1 &&
        make -C include install >>"$tmp/make.log" 2>&1 &&
        make install-pkgconfigDATA install-binSCRIPTS >>"$tmp/make.log" 2>&1) ||
        { tail -n 40 "$tmp/make.log" >&2; die "curl build failed (log above)"; }
    # The .pc file and curl-config name the staging prefix; point them at the final one.
    sed -i "s|$stage|$prefix|g" "$stage/lib/pkgconfig/libcurl.pc" "$stage/bin/curl-config"
    printf '%s\n' "$curl_version" >"$stage/.complete"
    rm -rf "$prefix"
    mv "$stage" "$prefix"
    step "static libcurl ready: $prefix/lib/libcurl.a ($(stat -c %s "$prefix/lib/libcurl.a") bytes;" \
        "features: $("$prefix/bin/curl-config" --features | tr '\n' ' '))"
fi

# --- 3. embedded CA bundle --------------------------------------------------------------------
# A NUL-terminated C array for the fallback used on images without any CA bundle (scratch,
# distroless). Built from the certificates the ca-certificates package ships, not from
# /etc/ssl/certs/ca-certificates.crt: that file also holds whatever the build machine added under
# /usr/local/share/ca-certificates (a company or sandbox proxy CA), which must not be baked into a
# release. Rewritten only when the content changed, so a warm build recompiles nothing.
if [[ -n ${ENTRYPOINT_EMBED_CA:-} ]]; then
    [[ -s $ENTRYPOINT_EMBED_CA ]] || die "ENTRYPOINT_EMBED_CA=$ENTRYPOINT_EMBED_CA is not a non-empty file"
    cp "$ENTRYPOINT_EMBED_CA" "$tmp/ca.pem"
    ca_what=$ENTRYPOINT_EMBED_CA
else
    shopt -s nullglob
    certs=("$ca_dir"/*.crt)
    shopt -u nullglob
    ((${#certs[@]})) || die "no certificates in $ca_dir (install ca-certificates)"
    # sorted like the glob (C locale), each file ends with a newline
    for crt in "${certs[@]}"; do
        cat "$crt"
        [[ $(tail -c1 "$crt" | od -An -c | tr -d ' ') == '\n' ]] || echo
    done >"$tmp/ca.pem"
    ca_what="$ca_dir (${#certs[@]} certificates, ca-certificates $(dpkg-query -W -f='${Version}' ca-certificates))"
fi
grep -q -- '-----BEGIN CERTIFICATE-----' "$tmp/ca.pem" || die "the CA bundle to embed holds no PEM certificate"
ca_bytes=$(stat -c %s "$tmp/ca.pem")
{
    printf 'static const unsigned char ep_embedded_ca_data[] = {\n'
    od -An -v -tx1 "$tmp/ca.pem" | awk '
        { for (i = 1; i <= NF; i++) { line = line sprintf("0x%s, ", $i); if (++n % 16 == 0) { print line; line = "" } } }
        END { print line "0x00" }' | sed 's/ $//'
    printf '};\n'
} >"$tmp/embedded_ca.inc"
if cmp -s "$tmp/embedded_ca.inc" "$ca_inc"; then
    step "embedded CA bundle unchanged ($ca_bytes bytes from $ca_what)"
else
    cp "$tmp/embedded_ca.inc" "$ca_inc"
    step "embedded CA bundle written to ${ca_inc#"$repo"/} ($ca_bytes bytes from $ca_what)"
fi

# --- 3b. version and commit ---------------------------------------------------------------------
# `entrypoint --version` prints them (Sources/CShims/build_info.c). The version is ENTRYPOINT_VERSION
# (scripts/release.sh sets it) or the source's default; the commit is ENTRYPOINT_COMMIT or git's HEAD,
# with "-dirty" when tracked files changed, or "unknown" without git (a docker build sends no .git).
# Rewritten only when the content changed, so a warm build recompiles nothing.
build_version=${ENTRYPOINT_VERSION:-}
[[ -z $build_version || $build_version =~ ^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$ ]] ||
    die "ENTRYPOINT_VERSION=$build_version: expected letters, digits and . + _ - (e.g. 1.2.3 or 1.2.3-rc.1)"
build_commit=${ENTRYPOINT_COMMIT:-}
if [[ -z $build_commit ]] && build_commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null); then
    git -C "$repo" diff --quiet HEAD -- 2>/dev/null || build_commit+=-dirty
fi
build_commit=${build_commit:-unknown}
[[ $build_commit =~ ^[0-9a-f]{7,64}(-dirty)?$|^unknown$ ]] || die "ENTRYPOINT_COMMIT=$build_commit: expected a hex commit id"
{
    printf '/* generated by scripts/build-static.sh */\n'
    [[ -z $build_version ]] || printf '#define EP_BUILD_VERSION "%s"\n' "$build_version"
    printf '#define EP_BUILD_COMMIT "%s"\n' "$build_commit"
} >"$tmp/build_info.inc"
cmp -s "$tmp/build_info.inc" "$info_inc" || cp "$tmp/build_info.inc" "$info_inc"
step "version ${build_version:-(source default)}, commit $build_commit"

# --- 4. static swift build --------------------------------------------------------------------
# The package's system-library targets ask pkg-config for libcurl, sqlite3 and libcrypto. Debian's
# sqlite3.pc and libcrypto.pc say -L/usr/lib/x86_64-linux-gnu, and SwiftPM puts those flags before
# ours, so the system's unlinkable libcurl.a (libcurl4-openssl-dev) would win over the private one.
# Private .pc files without any -L of the system, first in PKG_CONFIG_PATH, keep the private
# libcurl first; the libraries themselves are still found in the linker's default directories.
cd "$repo"
pcdir="$repo/$scratch/pkgconfig"
mkdir -p "$pcdir"
write_pc() { # NAME DESCRIPTION CFLAGS LIBS
    local text
    text=$(printf 'Name: %s\nDescription: %s (entrypoint static build)\nVersion: 0\nCflags: %s\nLibs: %s\n' "$@")
    [[ -f $pcdir/$1.pc && $(<"$pcdir/$1.pc") == "$text" ]] || printf '%s\n' "$text" >"$pcdir/$1.pc"
}
write_pc libcurl "minimal static libcurl $curl_version" "-I$prefix/include" "-L$prefix/lib -lcurl"
write_pc sqlite3 "Debian's static libsqlite3" "" "-lsqlite3"
write_pc libcrypto "Debian's static libcrypto" "" "-lcrypto"
export PKG_CONFIG_PATH="$pcdir"
# The extra -l land after the autolinked -lcurl/-lsqlite3/-lcrypto, so no link group is needed.
swift_flags=(-c release --product entrypoint --scratch-path "$scratch"
    -Xswiftc -static-executable
    -Xcc -I"$prefix/include"
    -Xlinker -L"$prefix/lib"
    -Xlinker -lnghttp2 -Xlinker -lssl -Xlinker -lcrypto -Xlinker -lz -Xlinker -lsqlite3 -Xlinker -lm)
step "swift build -c release --product entrypoint -static-executable (scratch $scratch)"
# Known, harmless glibc warnings about getaddrinfo/dlopen in static binaries are filtered out.
set +e
"$swift" build "${swift_flags[@]}" 2>&1 |
    grep -v -e 'in statically linked applications requires at runtime the shared libraries'
status=${PIPESTATUS[0]}
set -e
((status == 0)) || die "swift build failed (exit $status)"
bin="$("$swift" build "${swift_flags[@]}" --show-bin-path)/entrypoint"
[[ -x $bin ]] || die "swift build produced no $bin"

# --- 5. strip and check -----------------------------------------------------------------------
mkdir -p dist
strip -o dist/entrypoint.tmp "$bin"
chmod 0755 dist/entrypoint.tmp
mv -f dist/entrypoint.tmp dist/entrypoint
file_out=$(file -b dist/entrypoint)
ldd_out=$(ldd dist/entrypoint 2>&1 || true)
size=$(stat -c %s dist/entrypoint)
printf '    file: %s\n    ldd:  %s\n' "$file_out" "$ldd_out"
[[ $file_out == *"statically linked"* ]] || die "dist/entrypoint is not statically linked"
[[ $ldd_out == *"not a dynamic executable"* ]] || die "ldd does not say 'not a dynamic executable'"
printf '    size: %d bytes (%s MiB), budget %d bytes\n' "$size" \
    "$(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }')" "$max_bytes"
((size <= max_bytes)) || die "dist/entrypoint is $size bytes, over the budget of $max_bytes"

# --- 6. run it --------------------------------------------------------------------------------
# Without Dropbox variables (env -i) the restore is skipped and the command is exec'd in its place.
step "run: dist/entrypoint"
version_out=$(env -i PATH=/usr/bin:/bin dist/entrypoint --version) || die "dist/entrypoint --version failed"
while IFS= read -r line; do printf '    %s\n' "$line"; done <<<"$version_out"
[[ -z $build_version || $(head -n 1 <<<"$version_out") == "entrypoint $build_version" ]] ||
    die "dist/entrypoint --version does not say 'entrypoint $build_version'"
grep -qx "commit   $build_commit" <<<"$version_out" || die "dist/entrypoint --version does not name commit $build_commit"
# shellcheck disable=SC2016  # $0 and $$ are for the exec'd shell to expand
env -i PATH=/usr/bin:/bin ENTRYPOINT_RESTORE_MODE=off dist/entrypoint \
    sh -c 'echo "    $0: running as PID $$ in place of entrypoint"' demo-command

# --- 7. the main job, end to end, on this machine ------------------------------------------------
# scripts/demo.sh: restore from the project's fake Dropbox (TLS on loopback, no credentials), the
# example app supervised, a few bookings, the stop backup, the main server's pull. ENTRYPOINT_DEMO=0
# skips it (the Dockerfile's build stage: no app to run there).
if [[ ${ENTRYPOINT_DEMO:-1} == 0 ]]; then
    step "demo skipped (ENTRYPOINT_DEMO=0)"
else
    bash "$repo/scripts/demo.sh" "$repo/dist/entrypoint"
fi
step "done: dist/entrypoint"
