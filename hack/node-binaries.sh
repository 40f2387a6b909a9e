#!/usr/bin/env bash
# Builds the node's binaries for `make e2e` (kubelet, kube-controller-manager,
# kube-scheduler, kube-proxy) from source through the Go module proxy, with
# the module and flags hack/setup-envtest.sh builds kube-apiserver with, so
# the two share Go's build cache. Cached outside the clone, keyed by version;
# a second run takes seconds. Prints the directory as its last line of stdout;
# progress goes to stderr.
#
#   KUBE_VERSION  Kubernetes release to build   (default v1.37.2)
#   NODE_CACHE    where the binaries are kept    (default ~/.cache/journey-operator/node)
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ENVTEST_CACHE=${ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/journey-operator/envtest}
CACHE=${NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/journey-operator/node}
BIN="$CACHE/k8s-${KUBE_VERSION}"
COMPONENTS=(kubelet kube-controller-manager kube-scheduler kube-proxy)

log() { echo "node-binaries: $*" >&2; }
die() { echo "node-binaries: ERROR: $*" >&2; exit 1; }

missing=()
for c in "${COMPONENTS[@]}"; do
  [[ -x "$BIN/$c" ]] || missing+=("$c")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  log "using cached binaries in $BIN"
  echo "$BIN"
  exit 0
fi

# setup-envtest.sh writes the build module (k8s.io/kubernetes with its
# staging modules replaced by their published tags) and builds the API server.
KUBE_VERSION=$KUBE_VERSION bash hack/setup-envtest.sh >/dev/null
work="$ENVTEST_CACHE/build-kubernetes-${KUBE_VERSION}"
[[ -f "$work/go.mod" ]] || die "hack/setup-envtest.sh left no build module in $work"

mkdir -p "$BIN"
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION")"
for c in "${missing[@]}"; do
  log "building $c ${KUBE_VERSION} (kubelet about 5 minutes cold on 2 cores, the others 1-3)"
  start=$SECONDS
  (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$BIN/$c.tmp" "k8s.io/kubernetes/cmd/$c") \
    || die "building $c failed (see the compiler output above)"
  mv "$BIN/$c.tmp" "$BIN/$c"
  log "$c built in $((SECONDS - start))s"
done
"$BIN/kubelet" --version >&2 || die "the built kubelet does not run"
log "ready: $BIN"
echo "$BIN"
