#!/usr/bin/env bash
# Generate the secrets docker-compose.yml reads, once, into deploy/secrets/ (never committed).
# Existing files are kept, so running it again changes nothing; delete a file to replace that secret
# (then `docker compose up -d` again: the mqtt-auth service rewrites the broker's password file).
set -euo pipefail
cd "$(dirname "$0")/../deploy"
# The folder is private; the files are world-readable because Compose bind-mounts them as they are
# and SafeTwin runs as its own user inside the containers.
mkdir -p secrets && chmod 700 secrets
umask 022
token() { python3 -c 'import secrets; print(secrets.token_urlsafe(32), end="")'; }
for name in influx_password influx_token api_secret_key admin_password postgres_password \
    mqtt_device_secret mqtt_worker_password mqtt_api_password mqtt_vision_password \
    mqtt_simulator_password mqtt_health_password; do
  [ -s "secrets/$name" ] || token > "secrets/$name"
done
# The operational store's URL carries the PostgreSQL password (a setting: database.url).
[ -s secrets/database_url ] || printf 'postgresql+psycopg://safetwin:%s@postgres:5432/safetwin' \
  "$(cat secrets/postgres_password)" > secrets/database_url
echo "secrets ready in deploy/secrets/"
