#!/usr/bin/env bash
# Prepares a container engine for the IDC MySQL container tests and the drill: Debian's podman
# with runc (crun fails on this kernel's mixed cgroup v1/v2 layout), cgroupfs (no systemd here),
# default ulimits set explicitly (the sandbox lacks CAP_SYS_RESOURCE, so podman's defaults,
# which raise nofile/nproc, fail), the events log in a file, and storage and run dirs under the
# cache dir keyed by podman's version. Nothing is written under /etc or /var/lib/containers:
# lib/sandbox/podman.ts copies these files for each engine it starts, with the dirs moved into
# that engine's temp dir (so concurrent runs never share container names), and points podman at
# them through CONTAINERS_CONF and CONTAINERS_STORAGE_CONF; the image tarball it builds is kept
# in $dir/images. Idempotent; prints the config dir on stdout.
#   ROLLBACK_CACHE_DIR  cache root (default: ${TMPDIR:-/tmp}/idc-rollback-cache)
set -euo pipefail

# scripts/setup.sh installs these with the other Debian packages.
packages=(podman runc slirp4netns uidmap fuse-overlayfs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-podman: missing Debian packages: ${missing[*]} (run scripts/setup.sh as root, or: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-podman: the tests run podman as root (rootless needs subuid ranges this sandbox lacks)" >&2
  exit 1
fi

version="$(podman --version | awk '{print $3}')"
cache="${ROLLBACK_CACHE_DIR:-${TMPDIR:-/tmp}/idc-rollback-cache}"
dir="$cache/podman-$version"
mkdir -p "$dir/storage" "$dir/run" "$dir/tmp"

cat >"$dir/containers.conf" <<CONF
# Written by scripts/setup-podman.sh; used through CONTAINERS_CONF by lib/sandbox/podman.ts.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
# slirp4netns: user-mode networking, no bridge, so no nft rules are added to the host.
netns = "slirp4netns"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
tmp_dir = "$dir/tmp"
CONF

cat >"$dir/storage.conf" <<CONF
# Written by scripts/setup-podman.sh; used through CONTAINERS_STORAGE_CONF by lib/sandbox/podman.ts.
[storage]
driver = "vfs"
graphroot = "$dir/storage"
runroot = "$dir/run"
CONF

CONTAINERS_CONF="$dir/containers.conf" CONTAINERS_STORAGE_CONF="$dir/storage.conf" podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphDriverName}}' >"$dir/info.txt" \
  || { echo "setup-podman: podman info failed with $dir/containers.conf" >&2; exit 1; }
touch "$dir/.ready"
echo "$dir"
