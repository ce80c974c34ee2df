#!/usr/bin/env bash
# What the browser tests (tests/browser, pytest -m browser) need: Debian's Chromium and the
# `playwright` pip package. Safe to run again: it installs only what is missing.
#
#   PYTHON=.venv/bin/python .ci/install-browser.sh
#
# Never runs `playwright install`: Playwright's own browser download is unreachable here;
# the tests drive /usr/bin/chromium through executable_path instead.
set -euo pipefail
PYTHON=${PYTHON:-python3}

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-browser: chromium is missing; run as root: apt-get install -y chromium" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  # fonts-liberation is only a Recommends of chromium; without a font the page renders blank boxes.
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi

if ! "$PYTHON" -c "import playwright.sync_api" >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q "playwright>=1.40"
fi

echo "install-browser: $(chromium --version 2>/dev/null | head -n1);" \
  "playwright $("$PYTHON" -c 'from importlib.metadata import version; print(version("playwright"))')"
