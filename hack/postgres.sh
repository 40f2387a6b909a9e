#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are installed: the store's tests
# (internal/store/pgtest) start a throwaway cluster of their own on
# 127.0.0.1 from /usr/lib/postgresql/*/bin, and fail, naming what is
# missing, without them. Idempotent: does nothing when they are there.
# Uses Debian's postgresql package; `make test-deps` calls this.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_debian_package hack/postgres.sh postgresql "compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null" \
  "the store tests start a throwaway PostgreSQL from /usr/lib/postgresql/*/bin (or set JOURNEY_PG_BIN)"
