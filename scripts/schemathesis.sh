#!/usr/bin/env bash
# Fuzzes the running server against its own OpenAPI document with schemathesis (every check on),
# once on SQLite and once on PostgreSQL, and fails on any failure: an undocumented status, a
# response that does not match its schema, a 5xx, schema-invalid input accepted, schema-valid
# input refused, a protected operation answering without credentials.
#
# Each backend gets a fresh database and a `sesame serve` on a free loopback port, with a
# bootstrap admin whose token authorizes the protected operations, rate limits raised (so the
# fuzzer is not only answered 429) and cheap argon2 parameters (so a run is not spent hashing).
# Schemathesis is installed from PyPI into a venv (SCHEMATHESIS_VENV) when missing, at the
# pinned version below.
#
# Budget: SCHEMATHESIS_MAX_EXAMPLES cases per operation and phase (default 100; about 100 s for
# both backends on an idle 2-core machine, docs/reliability/openapi-fuzz.md), seed
# SCHEMATHESIS_SEED (default 1), one worker (two race in schemathesis's lazy imports on Python
# 3.11, and only one makes a seeded run reproducible). No --max-time: with it, schemathesis's
# fuzzing and stateful phases repeat until the time is spent. SCHEMATHESIS_SQLITE_ONLY=1 skips
# PostgreSQL. Extra arguments go to `schemathesis run`. Builds the debug binary; PostgreSQL comes
# from SESAME_TEST_POSTGRES_URL (default: the local server, started if it is down), where a fresh
# database is created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
venv="${SCHEMATHESIS_VENV:-target/schemathesis-venv}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"
pg_url="${SESAME_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "version $SCHEMATHESIS_VERSION\$"; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked -p sesame --bin sesame
bin="${CARGO_TARGET_DIR:-target}/debug/sesame"

case "$pg_url" in
  *@127.0.0.1:5432/*|*@localhost:5432/*) scripts/ensure-postgres.sh ;;
esac

work="$(mktemp -d)"
server_pid=""
pg_db=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -n "$pg_db" ]; then psql "$pg_url" -qc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# GET a URL; fails unless the answer is 2xx.
http_get() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()' "$1"
}

# Logs the bootstrap admin in and prints its access token.
admin_token() {
  python3 - "$1" "$admin_email" "$admin_password" <<'PY'
import json, sys, urllib.request
base, email, password = sys.argv[1:4]
req = urllib.request.Request(
    base + "/api/v1/auth/login",
    data=json.dumps({"email": email, "password": password}).encode(),
    headers={"content-type": "application/json"},
)
print(json.load(urllib.request.urlopen(req, timeout=10))["access_token"])
PY
}

admin_email="fuzz-admin@example.com"
admin_password="Qz$(python3 -c "import secrets; print(secrets.token_hex(12))")"
# Secrets at rest are sealed under this key (required on PostgreSQL; used on SQLite too, so both
# runs take the same path).
encryption_key="$(python3 -c "import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())")"

# run_backend NAME DATABASE_URL: serve, log in the admin, fuzz, stop.
run_backend() {
  local name="$1" db_url="$2" port base token status=0 started
  shift 2
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  echo "== schemathesis on $name ($base)"
  SESAME_DATABASE_URL="$db_url" \
  SESAME_LISTEN="127.0.0.1:$port" \
  SESAME_PUBLIC_URL="$base" \
  SESAME_LOG_FORMAT=json SESAME_LOG_LEVEL=warn \
  SESAME_ACCESS_TOKEN_TTL=2h \
  SESAME_ARGON2_MEMORY_KIB=1024 SESAME_ARGON2_ITERATIONS=1 \
  SESAME_REQUIRE_VERIFIED_EMAIL=false \
  SESAME_MAIL_TRANSPORT=file SESAME_MAIL_DIR="$work/mail-$name" \
  SESAME_RATE_LOGIN_IP=100000/1s SESAME_RATE_LOGIN_ACCOUNT=100000/1s \
  SESAME_RATE_REGISTER_IP=100000/1s \
  SESAME_RATE_FORGOT_IP=100000/1s SESAME_RATE_FORGOT_EMAIL=100000/1s \
  SESAME_RATE_RESEND_IP=100000/1s SESAME_RATE_RESEND_EMAIL=100000/1s \
  SESAME_RATE_EMAIL_CHANGE_IP=100000/1s SESAME_RATE_EMAIL_CHANGE_USER=100000/1s \
  SESAME_LOCKOUT_THRESHOLD=1000000 \
  SESAME_PASSWORD_MIN_SCORE=0 \
  SESAME_BOOTSTRAP_ADMIN_EMAIL="$admin_email" \
  SESAME_BOOTSTRAP_ADMIN_PASSWORD="$admin_password" \
  SESAME_ENCRYPTION_KEY="$encryption_key" \
    "$bin" serve >"$work/server-$name.log" 2>&1 &
  server_pid=$!
  started=""
  # Poll readiness with a deadline (30 s).
  for _ in $(seq 1 300); do
    if http_get "$base/health/ready" >/dev/null 2>&1; then started=1; break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ -z "$started" ]; then
    echo "sesame did not start on $name:" >&2
    cat "$work/server-$name.log" >&2
    return 1
  fi
  token="$(admin_token "$base")"

  local t0=$SECONDS
  local st=("$venv/bin/schemathesis" --config-file scripts/schemathesis.toml --no-color run
    "$base/openapi.json" --checks all --max-examples "$max_examples"
    --seed "${SCHEMATHESIS_SEED:-1}" --workers 1 --suppress-health-check all
    --generation-database none -H "Authorization: Bearer $token")
  # Operations that can end the admin's own session (logout, logout-all, and, fed the admin's id
  # by the stateful phase, revoke-sessions and ending a session by id) would leave every other
  # protected operation answered only 401: they get their own run at the end.
  local ending='^/api/v1/(auth/logout(-all)?|admin/users/\{id\}/revoke-sessions|users/me/sessions/\{id\})$'
  "${st[@]}" --exclude-path-regex "$ending" "$@" || status=$?
  if [ "$status" -eq 0 ]; then
    "${st[@]}" --include-path-regex "$ending" "$@" || status=$?
  fi
  echo "== $name: schemathesis exit $status after $((SECONDS - t0)) s"
  if grep -q '"level":"ERROR"' "$work/server-$name.log"; then
    echo "== $name: the server logged errors:" >&2
    grep '"level":"ERROR"' "$work/server-$name.log" | head -20 >&2
    status=1
  fi
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
  return "$status"
}

failed=0
run_backend sqlite "sqlite://$work/fuzz.db" "$@" || failed=1

if [ -z "${SCHEMATHESIS_SQLITE_ONLY:-}" ]; then
  pg_db="sesame_fuzz_$(date +%s)_$RANDOM"
  psql "$pg_url" -qc "CREATE DATABASE $pg_db" >/dev/null
  run_backend postgres "${pg_url%/*}/$pg_db" "$@" || failed=1
fi

if [ "$failed" -ne 0 ]; then
  echo "schemathesis: failures (see above)" >&2
  exit 1
fi
echo "schemathesis: no failures on sqlite and postgres"
