#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the test suite: starts the
# installed cluster if it is down, installs PostgreSQL from Debian's packages if it is missing
# (with trust authentication on loopback, for tests only), and fails loudly if it still cannot
# reach it.
set -euo pipefail

host=127.0.0.1
port=5432

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

if ! command -v pg_isready >/dev/null 2>&1 || ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "ensure-postgres: PostgreSQL is not installed; installing it from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  for hba in /etc/postgresql/*/main/pg_hba.conf; do
    # Tests connect as postgres over loopback without a password.
    sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  done
fi

if ! ready; then
  echo "ensure-postgres: starting the PostgreSQL cluster"
  for v in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  done
fi

for _ in $(seq 1 30); do
  ready && break
  sleep 1
done

if ! ready; then
  echo "ensure-postgres: PostgreSQL does not answer on $host:$port" >&2
  exit 1
fi
echo "ensure-postgres: PostgreSQL answers on $host:$port"
