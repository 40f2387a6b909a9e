#!/usr/bin/env bash
# Makes sure Prometheus and promtool are installed: the peer tests
# (test/peers) start a throwaway Prometheus on 127.0.0.1 that scrapes the
# manager and an evaluator and runs every dashboard panel's query, and the
# chart's alerting rules are checked and unit-tested with promtool; they fail,
# naming what is missing, without them. Idempotent: does nothing when both are
# there. Uses Debian's prometheus package; `make test-deps` calls this.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_debian_package hack/prometheus.sh prometheus \
  '[[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]]' \
  "the peer tests scrape metrics with /usr/bin/prometheus and check the chart's rules with /usr/bin/promtool"
