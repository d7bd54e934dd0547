#!/usr/bin/env bash
# Sets up a fresh Debian machine with Node 20 for the drill and the tests:
# the server packages (when run as root; otherwise it prints what to install) and npm dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(mariadb-server mariadb-client nginx-light libnginx-mod-stream percona-toolkit debootstrap openssl
  podman runc slirp4netns uidmap fuse-overlayfs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# Oracle MySQL 9.7 from Debian sid in a cached chroot (tests and `drill --flavor mysql` use it).
if [ "$(id -u)" = 0 ]; then
  bash scripts/setup-mysql.sh >/dev/null
else
  bash scripts/setup-mysql.sh >/dev/null 2>&1 || echo "setup: MySQL is not prepared (needs root once); tests run with ROLLBACK_TEST_FLAVORS=mariadb" >&2
fi

# A real container engine for the IDC MySQL container (podman, config and storage under the cache).
if [ "$(id -u)" = 0 ]; then
  bash scripts/setup-podman.sh >/dev/null
else
  bash scripts/setup-podman.sh >/dev/null 2>&1 || echo "setup: podman is not prepared (needs root); the container tests and the drill's container say so and fall back" >&2
fi

# The drill and tests start their own throw-away servers; nothing else needs to run.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
