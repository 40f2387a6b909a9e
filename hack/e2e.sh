#!/usr/bin/env bash
# make e2e: the chart on a real single-node cluster on this machine.
# Installs what the node needs from Debian (containerd, runc, the CNI
# plugins, nftables, PostgreSQL's server), builds the Kubernetes binaries
# from source once (cached; about 10 minutes cold on 2 cores), then runs
# test/e2e as root; arguments go to go test (e.g. -run TestSmoke). The test brings the node up and, whatever happens
# (failure, Ctrl-C), stops every daemon and puts the host back.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

log() { echo "e2e: $*" >&2; }
[[ $(id -u) -eq 0 ]] || { log "ERROR: the node needs root (containerd, kubelet, a bridge); run make e2e as root"; exit 1; }

why="make e2e runs a real node"
ensure_debian_package e2e containerd '[[ -x /usr/bin/containerd ]]' "$why"
ensure_debian_package e2e runc 'command -v runc >/dev/null' "$why"
ensure_debian_package e2e containernetworking-plugins '[[ -x /usr/lib/cni/bridge ]]' "$why (pod network)"
ensure_debian_package e2e nftables 'command -v nft >/dev/null' "$why (kube-proxy's nftables mode)"
ensure_debian_package e2e iptables 'command -v iptables >/dev/null' "$why (kubelet's canary chains)"
bash hack/postgres.sh

start=$SECONDS
control_plane=$(bash hack/setup-envtest.sh)
node=$(bash hack/node-binaries.sh)
log "binaries ready in $((SECONDS - start))s"

export GOTOOLCHAIN=local
go test -tags e2e -count=1 -timeout 40m -v "$@" ./test/e2e -args -control-plane "$control_plane" -node "$node"
