#!/usr/bin/env bash
# Build the real Kubernetes control-plane binaries the tests, the demo and the benchmark run:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kubectl, from the Go
# module proxy at pinned versions. No git clone, no Docker, no prebuilt downloads.
#
# Binaries are cached per version in $REGCRED_CACHE_DIR (default ~/.cache/regcred-operator), outside
# the clone, so a fresh clone on a machine that built them before starts at once; nothing depends on
# that cache being there: a cold machine builds (about 15-25 minutes on 2 cores).
#
# Usage: hack/build-controlplane.sh        prints the bin directory on its last line
#        KUBE_VERSION=1.33.13 hack/build-controlplane.sh   the oldest supported minor (npm test runs
#        the integration suite on it too)
set -euo pipefail
KUBE_VERSION=${KUBE_VERSION:-1.35.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CACHE=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
BIN="$CACHE/bin/k8s-v$KUBE_VERSION-etcd-v$ETCD_VERSION"
mkdir -p "$BIN"
log() { echo "[build-controlplane] $*" >&2; }
command -v go >/dev/null || { log "go is not installed: the Kubernetes binaries are built with the Go toolchain"; exit 1; }
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local

build_etcd() {
  [ -x "$BIN/etcd" ] && return 0
  log "building etcd v$ETCD_VERSION"
  local w; w=$(mktemp -d); (
    cd "$w"
    go mod init local/etcdbin >/dev/null 2>&1
    printf '%s\n' 'package main' '' 'import (' '	"os"' '' '	"go.etcd.io/etcd/server/v3/etcdmain"' ')' '' \
      'func main() { etcdmain.Main(os.Args) }' > main.go
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2
    go mod tidy >&2
    go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" .
  ); rm -rf "$w"
  mv "$BIN/etcd.tmp" "$BIN/etcd"
}

build_kube() { # components...
  local missing=() c
  for c in "$@"; do [ -x "$BIN/$c" ] || missing+=("$c"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "building ${missing[*]} v$KUBE_VERSION (kubernetes#79384: replace every staging module with its v0.x release)"
  local w; w=$(mktemp -d); (
    cd "$w"
    go mod init local/kubebins >/dev/null 2>&1
    local kmod mods gd minor staging pkgs=() ldf="-s -w" kv
    kmod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
    [ -f "$kmod" ] || { log "could not download k8s.io/kubernetes@v$KUBE_VERSION"; exit 1; }
    staging="v0.${KUBE_VERSION#1.}"; minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
    mods=$(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/.*#\1#p' "$kmod")
    for m in $mods; do go mod edit -replace="$m=$m@$staging"; done
    gd=$(sed -n 's/^godebug default=\(go[0-9.]*\)$/\1/p' "$kmod" | head -1)
    [ -n "$gd" ] && go mod edit -godebug=default="$gd"
    for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    go get "${pkgs[@]/%/@v$KUBE_VERSION}" >&2
    for kv in "gitVersion=v$KUBE_VERSION" "gitMajor=1" "gitMinor=$minor" "gitTreeState=clean"; do
      ldf+=" -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
    done
    mkdir -p out
    go build -trimpath -ldflags "$ldf" -o out/ "${pkgs[@]}"
    for c in "${missing[@]}"; do mv "out/$c" "$BIN/$c"; done
  ); rm -rf "$w"
}

# kubelet and kube-scheduler run the real node of the e2e suite (test/e2e); built in the same go build,
# they add only the ~110 packages the apiserver and controller-manager do not already compile.
# kubectl of the same version: kubectl supports one minor version of skew, and the machine's own may be older.
components=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
build_etcd
build_kube "${components[@]}"
for c in etcd "${components[@]}"; do
  if [ "$c" = kubectl ]; then log "kubectl: $("$BIN/kubectl" version --client 2>&1 | head -1)"
  else log "$c: $("$BIN/$c" --version 2>&1 | head -1)"; fi
done
echo "$BIN"
