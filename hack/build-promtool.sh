#!/usr/bin/env bash
# Build promtool and the Prometheus server (v3) from the Go module proxy at a pinned version:
# promtool checks and unit-tests the alerting rules (deploy/alerts/, `promtool test rules` in npm
# test); the server is used only by hack/dashboard-picture.sh, which renders the dashboard's picture
# for the docs from a real scrape. Like hack/build-helm.sh: no git clone, no Docker, no prebuilt
# download. Prometheus v3.X.Y is published to the proxy as module version v0.3XX.Y.
#
# Cached per version in $REGCRED_CACHE_DIR (default ~/.cache/regcred-operator), next to the
# control-plane binaries; both binaries come out of one `go build` (they share most packages).
#
# Usage: hack/build-promtool.sh        prints the bin directory (promtool, prometheus) on its last line
set -euo pipefail
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-3.16.0}
CACHE=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
BIN="$CACHE/bin/prometheus-v$PROMETHEUS_VERSION"
log() { echo "[build-promtool] $*" >&2; }

if [ ! -x "$BIN/promtool" ] || [ ! -x "$BIN/prometheus" ]; then
  command -v go >/dev/null || { log "go is not installed: promtool is built with the Go toolchain"; exit 1; }
  export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
  mkdir -p "$BIN"
  major=${PROMETHEUS_VERSION%%.*} rest=${PROMETHEUS_VERSION#*.}
  minor=${rest%%.*} patch=${rest#*.}
  module="v0.$major$(printf '%02d' "$minor").$patch" # 3.16.0 -> v0.316.0
  log "building promtool and prometheus v$PROMETHEUS_VERSION (module $module)"
  w=$(mktemp -d)
  trap 'rm -rf "$w"' EXIT
  (
    cd "$w"
    go mod init local/prometheusbin >/dev/null 2>&1
    go get "github.com/prometheus/prometheus@$module" >&2
    # The version stamps of Prometheus' Makefile (promu), so `promtool --version` names the release.
    p=github.com/prometheus/common/version
    ldf="-s -w -X $p.Version=$PROMETHEUS_VERSION -X $p.Branch=release -X $p.Revision=$module"
    mkdir -p out
    go build -trimpath -ldflags "$ldf" -o out/ \
      github.com/prometheus/prometheus/cmd/promtool github.com/prometheus/prometheus/cmd/prometheus
    mv out/promtool "$BIN/promtool.tmp" && mv "$BIN/promtool.tmp" "$BIN/promtool"
    mv out/prometheus "$BIN/prometheus.tmp" && mv "$BIN/prometheus.tmp" "$BIN/prometheus"
  )
fi
log "$("$BIN/promtool" --version 2>&1 | head -1)"
echo "$BIN"
