#!/usr/bin/env bash
# Makes sure Prometheus' Alertmanager and amtool are installed: the peer
# tests (test/peers) start a throwaway Alertmanager of their own on
# 127.0.0.1, drive the evaluator's alerts into it, and silence them with
# amtool; they fail, naming what is missing, without them. Idempotent: does
# nothing when both are there. Uses Debian's prometheus-alertmanager package
# (its binary is /usr/bin/prometheus-alertmanager); `make test-deps` calls this.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_debian_package hack/alertmanager.sh prometheus-alertmanager \
  '[[ -x /usr/bin/prometheus-alertmanager && -x /usr/bin/amtool ]]' \
  "the peer tests deliver alerts to /usr/bin/prometheus-alertmanager and silence them with /usr/bin/amtool"
