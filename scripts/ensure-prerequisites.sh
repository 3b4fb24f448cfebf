#!/usr/bin/env bash
# Installs what the product and its tests need on a fresh Debian machine: redis-server (Debian's
# package), xmllint (libxml2-utils), the npm dependencies and, with --browser, Debian's chromium. Safe to run again: it
# only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# debian_install PACKAGE [WHAT]: installs a Debian package as root (the package lists are updated
# once); returns 1 without root, so the caller says what to do instead.
updated=""
debian_install() {
  [ "$(id -u)" = "0" ] || return 1
  echo "Installing ${2:-$1} from Debian's packages…" >&2
  [ -n "$updated" ] || { apt-get update -qq >/dev/null; updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  debian_install redis-server || {
    echo "redis-server is missing: run 'sudo apt-get install -y redis-server' or set REDIS_URL." >&2
    exit 1
  }
fi

# Redis Sentinel (test/sentinel-failover.test.ts) is the same binary: `redis-server <conf> --sentinel`,
# so Debian's redis-server package is all it needs (redis-sentinel only adds a service unit).

# xmllint (Debian's libxml2-utils), for the tests only (--browser): they judge every response against
# the official FHIR XSD.
if [ "${1:-}" = "--browser" ] && ! command -v xmllint >/dev/null 2>&1; then
  debian_install libxml2-utils "libxml2-utils (xmllint)" || {
    echo "xmllint is missing: run 'sudo apt-get install -y libxml2-utils'." >&2
    exit 1
  }
fi

# --browser (npm test): Debian's headless Chromium for the dashboard browser test; never a
# browser download. Without root the test is skipped with a note instead.
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  debian_install chromium ||
    echo "chromium is missing: 'sudo apt-get install -y chromium' to run the dashboard browser test." >&2
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing npm dependencies…" >&2
  npm ci --no-audit --no-fund >&2
fi
