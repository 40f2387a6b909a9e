#!/usr/bin/env bash
# Builds the control-plane binaries envtest needs (kube-apiserver, etcd, kubectl)
# from source through the Go module proxy, because release downloads are not
# reachable here. The result is cached outside the clone, keyed by version, so a
# second run takes seconds. Prints the asset directory (for KUBEBUILDER_ASSETS)
# as its last line of stdout; progress goes to stderr.
#
#   KUBE_VERSION   Kubernetes release to build        (default v1.37.2)
#   ETCD_VERSION   etcd release to build               (default v3.7.0, what that release pins)
#   ENVTEST_CACHE  where the binaries are kept         (default ~/.cache/journey-operator/envtest)
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.0}
CACHE=${ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/journey-operator/envtest}
ASSETS="$CACHE/k8s-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"   # k8s.io/api etc. are tagged v0.MINOR.PATCH

log() { echo "setup-envtest: $*" >&2; }
die() { echo "setup-envtest: ERROR: $*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH; the envtest binaries are built with the Go toolchain"

if [[ -x "$ASSETS/kube-apiserver" && -x "$ASSETS/etcd" && -x "$ASSETS/kubectl" ]]; then
  log "using cached binaries in $ASSETS"
  echo "$ASSETS"
  exit 0
fi

mkdir -p "$ASSETS"
export GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$KUBE_VERSION")"

# kube-apiserver and kubectl: k8s.io/kubernetes requires its staging modules at
# v0.0.0 with local replaces, which a consumer does not inherit. A throwaway
# module replaces each one with the published tag of the same release.
build_kube() {
  local work="$CACHE/build-kubernetes-${KUBE_VERSION}"
  mkdir -p "$work"
  log "resolving k8s.io/kubernetes@${KUBE_VERSION} (first run downloads the source, ~1 min)"
  local gomod
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@${KUBE_VERSION} from the module proxy ($(go env GOPROXY))"
  {
    echo "module journey-operator/envtest-build"
    echo "go 1.26.0"
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"${STAGING_VERSION}"'#p' "$gomod"
  } >"$work/go.mod"
  grep -q '^replace k8s.io/api ' "$work/go.mod" || die "found no staging replaces in $gomod; has the layout of k8s.io/kubernetes changed?"
  log "building kube-apiserver ${KUBE_VERSION} (about 3-5 minutes cold on 2 cores)"
  (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$ASSETS/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) \
    || die "building kube-apiserver failed (see the compiler output above)"
  log "building kubectl ${KUBE_VERSION}"
  (cd "$work" && go build -trimpath -ldflags "$ldflags" -o "$ASSETS/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl) \
    || die "building kubectl failed (see the compiler output above)"
}

# etcd: server/v3 carries relative replaces too, for its sibling modules.
build_etcd() {
  local work="$CACHE/build-etcd-${ETCD_VERSION}"
  mkdir -p "$work"
  cat >"$work/go.mod" <<MOD
module journey-operator/etcd-build
go 1.26.0
require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 ${ETCD_VERSION}
)
MOD
  log "building etcd ${ETCD_VERSION} (about 1 minute cold)"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$ASSETS/etcd.tmp" go.etcd.io/etcd/server/v3) \
    || die "building etcd failed (see the compiler output above)"
}

[[ -x "$ASSETS/etcd" ]] || { build_etcd; mv "$ASSETS/etcd.tmp" "$ASSETS/etcd"; }
if [[ ! -x "$ASSETS/kube-apiserver" || ! -x "$ASSETS/kubectl" ]]; then
  build_kube
  mv "$ASSETS/kube-apiserver.tmp" "$ASSETS/kube-apiserver"
  mv "$ASSETS/kubectl.tmp" "$ASSETS/kubectl"
fi

"$ASSETS/etcd" --version >/dev/null 2>&1 || die "the built etcd does not run"
"$ASSETS/kube-apiserver" --version >&2 || die "the built kube-apiserver does not run"
log "ready: $ASSETS"
echo "$ASSETS"
