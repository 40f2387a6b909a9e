#!/usr/bin/env bash
# Makes sure a headless browser is installed: the dashboard's tests
# (internal/dashboard) render the journey map page in Debian's chromium
# (/usr/bin/chromium), take a screenshot and read back the rendered DOM,
# and fail, naming what is missing, without it. Idempotent: does nothing
# when /usr/bin/chromium is there. .ci/run calls this before `make test`.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
  echo "hack/chromium.sh: /usr/bin/chromium is missing and there is no apt-get to install Debian's chromium package; install Chromium so that /usr/bin/chromium exists" >&2
  exit 1
fi

echo "hack/chromium.sh: installing Debian's chromium package for the dashboard tests" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "hack/chromium.sh: could not install Debian's chromium package, which the dashboard tests need:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
if [[ ! -x /usr/bin/chromium ]]; then
  echo "hack/chromium.sh: installed chromium, yet no /usr/bin/chromium" >&2
  exit 1
fi
