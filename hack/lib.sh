# Sourced by hack/*.sh: what the install scripts share.

# ensure_debian_package NAME PACKAGE PRESENT WHY
# Installs Debian's PACKAGE unless the shell test PRESENT already holds
# (e.g. '[[ -x /usr/bin/chromium ]]'); NAME prefixes messages, WHY says which
# tests need it. Quiet on success; on failure prints apt's last lines and
# exits 1. Uses sudo when not root.
ensure_debian_package() {
  local name=$1 package=$2 present=$3 why=$4
  if eval "$present"; then
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  if ! command -v apt-get >/dev/null; then
    echo "$name: $package is missing and there is no apt-get to install Debian's $package package; $why" >&2
    exit 1
  fi
  echo "$name: installing Debian's $package package: $why" >&2
  local log
  log=$(mktemp)
  if ! { "${sudo[@]}" apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package"; } >"$log" 2>&1; then
    echo "$name: could not install Debian's $package package ($why):" >&2
    tail -n 30 "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  if ! eval "$present"; then
    echo "$name: installed $package, yet the check '$present' still fails" >&2
    exit 1
  fi
}
