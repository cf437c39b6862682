# shellcheck shell=bash
# podman as scripts/release.sh and scripts/test-container.sh run it (sourced, not run; the caller
# sources scripts/lib.sh first):
# runc, cgroupfs, file events and overlay storage under $ENTRYPOINT_CI_STATE, the settings with which
# podman works as root inside a container or VM as well as on a CI runner. Both scripts use the same
# state directory, so they share the image storage.

# podman_setup: installs what is missing (apt) and exports CONTAINERS_CONF and CONTAINERS_STORAGE_CONF.
podman_setup() {
    local state=${ENTRYPOINT_CI_STATE:-/var/tmp/entrypoint-ci}
    [[ $(id -u) -eq 0 ]] || die "podman needs root here (runc with cgroupfs, as on CI)"
    apt_install_missing podman buildah runc uidmap catatonit containernetworking-plugins
    mkdir -p "$state"
    cat >"$state/containers.conf" <<CONF
[containers]
netns = "host"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    cat >"$state/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$state/run"
graphroot = "$state/root"
CONF
    export CONTAINERS_CONF=$state/containers.conf CONTAINERS_STORAGE_CONF=$state/storage.conf
}
