#!/usr/bin/env bash
# What the tests need beyond Python packages, from Debian's packages: a PostgreSQL server (the
# tests start a private cluster from its binaries) and Chromium with a font (driven by
# Playwright, which never downloads a browser of its own here). Installs only what is missing.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# fonts-liberation is only a Recommends of chromium; without a font pages render blank boxes.
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-test-deps: missing ${need[*]}; as root run: apt-get install -y ${need[*]}" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install-test-deps: installed ${need[*]}"
