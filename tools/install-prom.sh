#!/usr/bin/env bash
# Installs the real Prometheus, Alertmanager and Pushgateway the alert and metric tests
# start (tests/servers/prom.py). Idempotent: packages already present are skipped.
# Debian's packages also enable a system service each; the tests run their own
# instances on free loopback ports, so those services are stopped and disabled here
# (a second server on :9090/:9093 is only noise on a shared machine).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

packages=(prometheus prometheus-alertmanager prometheus-pushgateway)
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-prom: apt-get install ${missing[*]}"
  # policy-rc.d 101: the packages' postinst scripts may not start their services.
  policy=/usr/sbin/policy-rc.d
  created_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=true
  fi
  trap '[ "$created_policy" = true ] && rm -f "$policy"' EXIT
  ${SUDO:-} apt-get update -qq
  ${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for binary in prometheus prometheus-alertmanager prometheus-pushgateway; do
  command -v "$binary" >/dev/null || { echo "install-prom: $binary is missing" >&2; exit 1; }
done
echo "install-prom: $(prometheus --version 2>&1 | sed -n 1p)"
