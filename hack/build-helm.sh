#!/usr/bin/env bash
# Build helm (v3) from the Go module proxy at a pinned version, for the chart tests (helm lint,
# helm template, helm install into the local control plane). Helm is not packaged for these
# machines; like hack/build-controlplane.sh: no git clone, no Docker, no prebuilt download.
#
# Cached per version in $REGCRED_CACHE_DIR (default ~/.cache/regcred-operator), next to the
# control-plane binaries; a cold build takes a few minutes on 2 cores, later runs reuse it.
# A `helm` already on PATH is not used: the tests pin the version they were written against.
#
# Usage: hack/build-helm.sh        prints the path of the helm binary on its last line
set -euo pipefail
HELM_VERSION=${HELM_VERSION:-3.19.5}
CACHE=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
BIN="$CACHE/bin/helm-v$HELM_VERSION"
log() { echo "[build-helm] $*" >&2; }

if [ ! -x "$BIN/helm" ]; then
  command -v go >/dev/null || { log "go is not installed: helm is built with the Go toolchain"; exit 1; }
  export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
  mkdir -p "$BIN"
  log "building helm v$HELM_VERSION"
  w=$(mktemp -d)
  trap 'rm -rf "$w"' EXIT
  (
    cd "$w"
    go mod init local/helmbin >/dev/null 2>&1
    go get "helm.sh/helm/v3@v$HELM_VERSION" >&2
    # The same version stamps helm's Makefile sets: the release version, and the Kubernetes version
    # its client libraries speak (the default .Capabilities.KubeVersion of `helm template`).
    kube=$(go list -m -f '{{.Version}}' k8s.io/client-go) # v0.34.2 -> Kubernetes 1.34
    kminor=$(echo "$kube" | cut -d. -f2)
    ldf="-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for p in pkg/lint/rules pkg/chartutil; do
      ldf+=" -X helm.sh/helm/v3/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/$p.k8sVersionMinor=$kminor"
    done
    go build -trimpath -ldflags "$ldf" -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm
  )
  mv "$BIN/helm.tmp" "$BIN/helm"
fi
log "$("$BIN/helm" version --short 2>&1 | head -1)"
echo "$BIN/helm"
