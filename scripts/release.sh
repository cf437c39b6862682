#!/usr/bin/env bash
# A release of this commit: the static binary, its checksum and the `binary` image.
#
#   scripts/release.sh VERSION          (e.g. 1.2.0 or 1.2.0-rc.1: no leading "v")
#
#   1. builds the static binary with the README's build (scripts/build-static.sh, its demo included)
#      with ENTRYPOINT_VERSION=VERSION, so `--version` says `entrypoint VERSION` and names the commit;
#   2. dist/release/VERSION/entrypoint-VERSION-linux-ARCH (ARCH from `uname -m`: x86_64, aarch64) and
#      SHA256SUMS beside it (`sha256sum -c SHA256SUMS` verifies it);
#   3. podman builds the Dockerfile's `binary` stage (FROM scratch, only /entrypoint) from that very
#      file (`--build-context build=DIR`, as scripts/test-container.sh does), tagged
#      localhost/entrypoint:VERSION, checks that the image's /entrypoint is the same bytes, and saves it
#      as entrypoint-VERSION-image-linux-ARCH.tar (docker-archive), which SHA256SUMS then covers too.
# .github/workflows/release.yml runs this on a tag v<VERSION> and attaches the files to the release.
#
# Environment: ENTRYPOINT_RELEASE_DIRTY=1 builds from a work tree with changes (the commit then reads
# "<sha>-dirty"; never for a published release). Those of scripts/build-static.sh apply too.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/lib-podman.sh
. "$repo/scripts/lib-podman.sh"
cd "$repo"

(($# == 1)) || die "usage: scripts/release.sh VERSION (e.g. 1.2.0)"
version=$1
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$ ]] ||
    die "VERSION $version is not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (e.g. 1.2.0, 1.2.0-rc.1; no leading v)"
arch=$(uname -m)
case $arch in
x86_64 | aarch64) ;;
*) die "architecture $arch: only x86_64 and aarch64 are described (docs/static-build.md)" ;;
esac
name=entrypoint-$version-linux-$arch
out=dist/release/$version
image=localhost/entrypoint:$version
image_file=entrypoint-$version-image-linux-$arch.tar

commit=$(git rev-parse HEAD) || die "git rev-parse HEAD failed in $repo (above): a release names its commit"
if [[ -n $(git status --porcelain --untracked-files=normal) && ${ENTRYPOINT_RELEASE_DIRTY:-} != 1 ]]; then
    git status --short >&2
    die "the work tree has changes (above): a release is built from a commit (or set ENTRYPOINT_RELEASE_DIRTY=1)"
fi

# --- 1. the README's build ----------------------------------------------------------------------
step "scripts/build-static.sh with ENTRYPOINT_VERSION=$version (commit $commit)"
ENTRYPOINT_VERSION=$version bash scripts/build-static.sh

# --- 2. the named binary and SHA256SUMS ---------------------------------------------------------
step "$out/$name and SHA256SUMS"
rm -rf "$out"
mkdir -p "$out"
install -m 0755 dist/entrypoint "$out/$name"
(cd "$out" && sha256sum "$name" >SHA256SUMS && sha256sum -c --quiet SHA256SUMS) || die "sha256sum -c failed in $out"
sed 's/^/    /' "$out/SHA256SUMS"
version_out=$("$out/$name" --version)
first=$(head -n 1 <<<"$version_out")
[[ $first == "entrypoint $version" ]] || die "$out/$name --version says '$first', expected 'entrypoint $version'"
grep -q "^commit   $commit" <<<"$version_out" || die "$out/$name --version does not name commit $commit"

# --- 3. the binary image --------------------------------------------------------------------------
step "podman build --target binary -t $image (the Dockerfile's binary stage, from $out/$name)"
podman_setup
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$out/$name" "$ctx/entrypoint"
podman build --pull=never --isolation chroot --network host --target binary \
    --label "org.opencontainers.image.version=$version" --label "org.opencontainers.image.revision=$commit" \
    --build-context "build=$ctx" -t "$image" -f Dockerfile . >"$ctx/build.log" 2>&1 ||
    { tail -n 40 "$ctx/build.log" >&2; die "podman build --target binary failed"; }
container=$(podman create "$image")
podman cp "$container:/entrypoint" "$ctx/from-image" >/dev/null
podman rm "$container" >/dev/null
cmp -s "$ctx/from-image" "$out/$name" || die "the image's /entrypoint differs from $out/$name"
first=$(podman run --rm --network host "$image" --version | head -n 1)
[[ $first == "entrypoint $version" ]] || die "$image --version says '$first', expected 'entrypoint $version'"
echo "    $image: /entrypoint is $name byte for byte; --version: $first"
# The image as a file for the release page (`docker load -i` / `podman load -i`); SHA256SUMS covers it.
podman save --quiet --format docker-archive -o "$out/$image_file" "$image" >/dev/null
(cd "$out" && sha256sum "$name" "$image_file" >SHA256SUMS && sha256sum -c --quiet SHA256SUMS) || die "sha256sum -c failed in $out"
sed 's/^/    /' "$out/SHA256SUMS"
step "release $version ready in $out: $name, $image_file, SHA256SUMS; image $image"
