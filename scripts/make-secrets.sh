#!/usr/bin/env bash
# Generate the secrets docker-compose.yml reads, once, into deploy/secrets/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/../deploy"
mkdir -p secrets && chmod 700 secrets
for name in influx_password influx_token api_secret_key; do
  [ -s "secrets/$name" ] || python3 -c 'import secrets; print(secrets.token_urlsafe(32), end="")' > "secrets/$name"
done
echo "secrets ready in deploy/secrets/"
