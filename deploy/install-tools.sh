#!/usr/bin/env bash
# Installs the command-line tools the tests use, from Debian's packages, when they are missing:
# promtool (package prometheus) and a Compose implementation (docker-compose) for the deployment
# checks, faketime for a worker whose clock runs ahead, python3 for a hostile caller, python3-zeep
# for an independent SOAP client, and chromium for the status page's browser test (driven by
# playwright-core, which downloads no browser of its own). Also Node.js 22, the image's runtime,
# from its npm package (node-linux-<arch>) into a cache folder, for the test that runs Sluice on
# it beside this machine's Node (test/e2e/node-versions.test.ts; scripts/node22.sh prints its path).
# Run by `npm test` (its pretest step), so a fresh machine needs nothing installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/node22.sh --install >/dev/null

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  missing+=(docker-compose)
fi
[ -x /usr/bin/chromium ] || missing+=(chromium)
# faketime: a worker whose machine clock runs ahead (test/e2e/claim-clock.test.ts).
command -v faketime >/dev/null 2>&1 || missing+=(faketime)
# python3: a caller with a small receive buffer (test/e2e/hostile-input.test.ts).
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# zeep and lxml in Debian's python3: an independent reader of the WSDL and the SOAP answers
# (test/e2e/soap-wsdl-readers.test.ts).
/usr/bin/python3 -c "import zeep, lxml" >/dev/null 2>&1 || missing+=(python3-zeep)
[ ${#missing[@]} -eq 0 ] && exit 0

bash scripts/apt-install.sh "${missing[@]}"
# Only promtool is wanted from the prometheus package: never leave its server running (it would
# take port 9090, Sluice's default admin port).
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
