#!/usr/bin/env bash
# Install what the integration tests run for real: Mosquitto, InfluxDB, PostgreSQL, Chromium + ChromeDriver,
# openssl (test certificates for the TLS broker) and a CJK font (Chinese names in the screenshots).
# The tests start their own instances on free ports; nothing here listens on a fixed port.
set -euo pipefail

declare -A need=(
  [mosquitto]=/usr/sbin/mosquitto
  [influxdb]=/usr/bin/influxd
  [chromium]=/usr/bin/chromium
  [chromium-driver]=/usr/bin/chromedriver
  [openssl]=/usr/bin/openssl
  [fonts-wqy-microhei]=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
)
missing=()
for pkg in "${!need[@]}"; do
  [ -e "${need[$pkg]}" ] || missing+=("$pkg")
done
# PostgreSQL's server binaries live under its major version; the tests run initdb and pg_ctl themselves.
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  echo "test services present: mosquitto, influxd, postgresql, chromium, chromedriver, openssl, CJK font"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing Debian packages for the integration tests: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  echo "(tests that need them will fail with the same message)" >&2
  exit 0
fi
echo "installing Debian packages for the integration tests: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the packages' own services (PostgreSQL's system cluster too) from starting: the tests
# run their own instances.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
