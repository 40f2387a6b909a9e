#!/usr/bin/env bash
# Makes sure a headless browser is installed: the dashboard's tests
# (internal/dashboard) render the journey map page in Debian's chromium
# (/usr/bin/chromium), take a screenshot and read back the rendered DOM,
# and fail, naming what is missing, without it. Idempotent: does nothing
# when /usr/bin/chromium is there. `make test-deps` calls this.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_debian_package hack/chromium.sh chromium '[[ -x /usr/bin/chromium ]]' \
  "the dashboard tests render the journey map page in /usr/bin/chromium"
