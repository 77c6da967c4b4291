#!/usr/bin/env bash
# Writes screenshots of the English pages (each page emailed links open, the passkey pages and the "this link
# does not work" page) at 375 and 1280 px, light and dark, to docs/screenshots/ as
# `<page>-<width>-<scheme>.png`. They are taken by the browser matrix test
# (browser::every_page_renders_cleanly_in_every_language_width_and_scheme) in headless Chromium;
# nothing else runs. Another directory: SESAME_SCREENSHOTS_DIR=/some/dir scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-chromium.sh
dir="${SESAME_SCREENSHOTS_DIR:-docs/screenshots}"
mkdir -p "$dir"
SESAME_SCREENSHOTS_DIR="$(cd "$dir" && pwd)" \
  cargo test -p sesame --test api --locked -- --exact \
  browser::every_page_renders_cleanly_in_every_language_width_and_scheme
echo "screenshots in $dir:"
ls -1 "$dir"
