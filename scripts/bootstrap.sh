#!/bin/sh
# Installs what nines needs on a Debian 12 machine, idempotently:
#   - Debian packages (database servers, proxies, sshd, network tools) through apt when run as root;
#   - npm dependencies (including Node.js 24 from the npm 'node' package) when package-lock.json changed.
# Called by `npm test` and `npm run demo` (pretest/predemo) and by .ci/run. Fast when nothing is missing.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="mariadb-server mariadb-client galera-4 mariadb-backup postgresql postgresql-contrib haproxy keepalived \
openssh-server openssh-client iproute2 iptables procps psmisc rsync socat util-linux sudo ca-certificates openssl"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "nines bootstrap: missing Debian packages:$missing" >&2
    echo "  Fix: run as root once (sudo npm test), or: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
  fi
  echo "nines bootstrap: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/tmp/nines-apt.log 2>&1 || {
    echo "nines bootstrap: apt-get install failed; see /tmp/nines-apt.log" >&2
    tail -20 /tmp/nines-apt.log >&2
    exit 1
  }
fi

# npm dependencies: reinstall when package-lock.json is newer than the last install.
stamp=node_modules/.package-lock.json
if [ ! -x node_modules/.bin/node ] || [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  echo "nines bootstrap: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
ver=$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')
if [ "$ver" -lt 24 ]; then
  echo "nines bootstrap: node_modules/.bin/node is Node $ver; nines needs Node 24 (npm install node@24)" >&2
  exit 1
fi
