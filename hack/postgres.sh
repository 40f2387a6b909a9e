#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are installed: the store's tests
# (internal/store/pgtest) start a throwaway cluster of their own on
# 127.0.0.1 from /usr/lib/postgresql/*/bin, and fail, naming what is
# missing, without them. Idempotent: does nothing when they are there.
# Uses Debian's postgresql package; .ci/run calls this before `make test`.
set -euo pipefail

if compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null; then
  echo "hack/postgres.sh: PostgreSQL's server binaries are missing and there is no apt-get to install Debian's postgresql package; install PostgreSQL and set JOURNEY_PG_BIN to the directory holding initdb and postgres" >&2
  exit 1
fi

echo "hack/postgres.sh: installing Debian's postgresql package for the store tests" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
  echo "hack/postgres.sh: could not install Debian's postgresql package, which the store tests need:" >&2
  tail -n 30 "$log" >&2
  exit 1
fi
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  echo "hack/postgres.sh: installed postgresql, yet no /usr/lib/postgresql/*/bin/postgres" >&2
  exit 1
fi
