#!/usr/bin/env bash
# Prepares Oracle MySQL (Debian sid's mysql-server-core and mysql-client, 9.7 in the archive this
# machine reaches) in a debootstrap chroot under a cache directory, without touching the host's
# root file system. The binaries run on the host through sid's own loader (lib/sandbox/flavor.ts).
# Idempotent: a finished chroot (marked by .ready) is reused; prints the chroot path on stdout.
#   ROLLBACK_CACHE_DIR  cache root (default: ${TMPDIR:-/tmp}/idc-rollback-cache)
set -euo pipefail

cache="${ROLLBACK_CACHE_DIR:-${TMPDIR:-/tmp}/idc-rollback-cache}"
# Keyed by what we install: a new suite or package set gets a new chroot.
root="$cache/mysql-sid-server-core"

# Plain commands for the chroot's client tools, run through sid's loader (tests and the drill put
# this folder first on PATH, or name a tool in it, for a MySQL-flavoured run).
write_wrappers() {
  mkdir -p "$root/.bin"
  for tool in mysql mysqldump mysqlbinlog mysqladmin mysqld; do
    dir=bin; [ "$tool" = mysqld ] && dir=sbin
    printf '#!/bin/sh\nexec "%s/usr/lib64/ld-linux-x86-64.so.2" --library-path "%s/usr/lib/x86_64-linux-gnu" "%s/usr/%s/%s" "$@"\n' \
      "$root" "$root" "$root" "$dir" "$tool" >"$root/.bin/$tool"
    chmod +x "$root/.bin/$tool"
  done
}
if [ -f "$root/.ready" ]; then write_wrappers; echo "$root"; exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-mysql: debootstrap needs root; run as root to prepare MySQL in $root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "setup-mysql: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }

mkdir -p "$cache"
# A second copy waits for the first instead of debootstrapping into the same folder.
exec 9>"$cache/.mysql.lock"
flock 9
if [ -f "$root/.ready" ]; then echo "$root"; exit 0; fi
rm -rf "$root"
echo "setup-mysql: debootstrap sid into $root (about 40 s)" >&2
debootstrap --variant=minbase sid "$root" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
  || { echo "setup-mysql: debootstrap failed; see $cache/debootstrap.log" >&2; exit 1; }
# No service may start inside the chroot, and the archive is a frozen snapshot whose Release
# file is past its Valid-Until date.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99no-valid-until"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || true' EXIT
chroot "$root" apt-get update >>"$cache/debootstrap.log" 2>&1
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends mysql-server-core mysql-client \
  >>"$cache/debootstrap.log" 2>&1 || { echo "setup-mysql: apt-get install in the chroot failed; see $cache/debootstrap.log" >&2; exit 1; }
umount "$root/proc"
trap - EXIT
chroot "$root" apt-get clean >/dev/null 2>&1 || true
write_wrappers
touch "$root/.ready"
echo "$root"
