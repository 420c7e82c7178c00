#!/usr/bin/env bash
# Prints the path of a Node.js 22 binary (the Docker image's runtime) for the tests that run
# Sluice on it; with --install, first installs it when missing, from the npm registry's
# node-linux-<arch> package (a release build of Node shipped as an npm package) into
# ${XDG_CACHE_HOME:-~/.cache}/sluice/node22. Exits 1 when it is not installed.
set -euo pipefail
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "node22: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac
dir="${XDG_CACHE_HOME:-$HOME/.cache}/sluice/node22"
node="$dir/node_modules/node-linux-$arch/bin/node"
if [ "${1:-}" = "--install" ] && ! "$node" --version >/dev/null 2>&1; then
  echo "installing Node.js 22 (npm package node-linux-$arch@22) into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock \
    "node-linux-$arch@22" >&2
fi
"$node" --version >/dev/null 2>&1 || { echo "node22: not installed; run deploy/install-tools.sh" >&2; exit 1; }
echo "$node"
