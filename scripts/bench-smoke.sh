#!/usr/bin/env bash
# Proves the performance harness still works: builds the server and the harness in release mode
# and runs every scenario for about two seconds with small numbers (`sesame-bench --smoke`), on
# SQLite, and also on PostgreSQL when SESAME_BENCH_POSTGRES_URL names a server (a temporary
# database is created there and dropped). It asserts nothing about speed: it fails only when the
# harness cannot run (the server does not start, a scenario gets no successful answer) or a
# correctness check it makes (logout takes effect at once) fails.
#
# BENCH_PROFILE=dev uses the debug build instead (no release build: much faster in CI; the
# figures are meaningless either way in smoke mode). Extra arguments go to sesame-bench.
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${BENCH_PROFILE:-release}"
case "$profile" in
  release) cargo build --release --locked -p sesame -p sesame-bench; dir=release ;;
  dev) cargo build --locked -p sesame -p sesame-bench; dir=debug ;;
  *) echo "BENCH_PROFILE must be release or dev, not $profile" >&2; exit 2 ;;
esac

args=(--smoke)
if [ -n "${SESAME_BENCH_POSTGRES_URL:-}" ]; then
  args+=(--postgres-url "$SESAME_BENCH_POSTGRES_URL")
fi
exec "${CARGO_TARGET_DIR:-target}/$dir/sesame-bench" "${args[@]}" "$@"
