#!/usr/bin/env bash
# Install the Debian packages the rehearsal stack and tests need, only if missing.
# Idempotent and quick (dpkg-query only) when everything is present.
set -euo pipefail
packages=(postgresql-15 postgresql-client-15 nginx-light prometheus bind9 bind9-dnsutils openssl procps iproute2 gzip rsync shellcheck redis-server docker-registry chromium fonts-dejavu-core)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Packages must not start their own daemons: the rehearsal stack runs its own
# instances on loopback ports it chooses. policy-rc.d exit 101 = "do not start".
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" -eq 1 ] && $sudo rm -f "$policy"' EXIT
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
