#!/usr/bin/env bash
# Installs Debian packages for the project's checks: as root directly, otherwise through
# `sudo -n` (never prompting). Waits for another apt run's lock instead of failing on it.
# usage: scripts/apt-install.sh PACKAGE...
set -euo pipefail
[ $# -gt 0 ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "apt-install: need root (or password-less sudo) to install: $*" >&2
  echo "apt-install: as root run: apt-get update && apt-get install -y $*" >&2
  exit 1
fi

echo "installing $* (Debian packages)"
lock=(-o DPkg::Lock::Timeout=600)
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq \
  --no-install-recommends "$@" >/dev/null
