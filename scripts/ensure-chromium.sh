#!/usr/bin/env bash
# Makes sure the browser tests find a headless Chromium: `SESAME_TEST_CHROMIUM` when set, else
# `chromium` or `chromium-browser` on PATH (the same lookup as crates/sesame/tests/api/chromium.rs).
# When none is there it installs Debian's `chromium` package if it can (root and apt-get), and
# otherwise explains how to get one and fails: the suite fails without a browser rather than skip
# the pages' tests. Installs nothing else and downloads no browser build of its own.
set -euo pipefail

if [ -n "${SESAME_TEST_CHROMIUM:-}" ]; then
  if [ -x "$SESAME_TEST_CHROMIUM" ]; then
    echo "ensure-chromium: using SESAME_TEST_CHROMIUM=$SESAME_TEST_CHROMIUM"
    exit 0
  fi
  echo "ensure-chromium: SESAME_TEST_CHROMIUM=$SESAME_TEST_CHROMIUM is not an executable" >&2
  exit 1
fi

found() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }

if ! found; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: Chromium is not installed; installing Debian's chromium package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
  else
    cat >&2 <<'MSG'
ensure-chromium: the browser tests need headless Chromium, and none was found.
  On Debian or Ubuntu:  sudo apt-get install chromium   (or chromium-browser)
  Elsewhere: install Chromium or Chrome from your package manager and either put it on PATH as
  `chromium` or set SESAME_TEST_CHROMIUM to its executable.
MSG
    exit 1
  fi
fi

if ! found; then
  echo "ensure-chromium: Chromium is still not on PATH after installing it" >&2
  exit 1
fi
browser="$(command -v chromium || command -v chromium-browser)"
echo "ensure-chromium: $("$browser" --version 2>/dev/null | head -1) at $browser"
