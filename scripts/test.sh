#!/usr/bin/env bash
# Runs Sesame's whole test suite: the domain's unit tests and the HTTP/store behaviour suite,
# every behaviour test on SQLite and on PostgreSQL (SESAME_TEST_POSTGRES_URL, default: the local
# server, which this script starts if it is down).
set -euo pipefail
cd "$(dirname "$0")/.."

export SESAME_TEST_POSTGRES_URL="${SESAME_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
case "$SESAME_TEST_POSTGRES_URL" in
  *@127.0.0.1:5432/*|*@localhost:5432/*) scripts/ensure-postgres.sh ;;
esac

# The rate-limiter tests use a shared Redis (SESAME_TEST_REDIS_URL, default: the local server,
# started if it is down) and start throwaway `redis-server`s of their own.
export SESAME_TEST_REDIS_URL="${SESAME_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
scripts/ensure-redis.sh

# The browser tests (browser::*) drive headless Chromium: SESAME_TEST_CHROMIUM, else `chromium`
# or `chromium-browser` on PATH; installed from Debian's packages when missing and root.
scripts/ensure-chromium.sh

# `--coverage`: the same tests, run once under cargo-tarpaulin (LLVM engine, instrumented build
# in target/tarpaulin), failing below SESAME_COVERAGE_FLOOR % of lines (default 90). The bench
# crate's tests run but its lines are not counted: it is a harness, exercised by the CI smoke run.
# Further arguments go to tarpaulin (e.g. `-- refresh::` to filter tests). Tests run in one
# process per test binary (libtest), not nextest's one per test, so nextest's per-test timeout
# does not apply: a hung test fails its binary after 25 minutes (the HTTP suite takes ~6 under
# coverage on a loaded 2-core machine).
if [ "${1:-}" = "--coverage" ]; then
  shift
  if ! cargo tarpaulin --version >/dev/null 2>&1; then
    echo "cargo-tarpaulin is missing: cargo install cargo-tarpaulin --locked" >&2
    exit 1
  fi
  exec cargo tarpaulin --workspace --locked --engine llvm --skip-clean \
    --target-dir target/tarpaulin --output-dir target/tarpaulin --out Stdout Lcov \
    --exclude-files 'crates/sesame-bench/*' --timeout 1500 --no-fail-fast \
    --fail-under "${SESAME_COVERAGE_FLOOR:-90}" "$@"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
