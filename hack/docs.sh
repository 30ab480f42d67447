#!/usr/bin/env bash
# The documentation site: docs/ (mkdocs.yml) built with mkdocs and the Material theme into
# .cache/site, strictly: a warning (a broken link, a missing anchor, a page outside the nav) fails
# the build. The build fetches nothing (theme.font is false, no plugin that downloads).
#
#   bash hack/docs.sh             (npm run docs) install the tools if missing, then build
#   bash hack/docs.sh --install   only install them (hack/setup.sh calls this)
#   bash hack/docs.sh serve       a live preview on 127.0.0.1:8000 (any mkdocs command works)
#
# mkdocs and mkdocs-material (hack/docs-requirements.txt) come from PyPI into the ignored
# virtualenv .cache/docs-venv, as hack/setup.sh does for moto in .cache/moto-venv. Idempotent: the
# venv is (re)made only when it is missing or was made from other requirements.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.cache/docs-venv
REQUIREMENTS=hack/docs-requirements.txt
log() { echo "[docs] $*" >&2; }
export NO_MKDOCS_2_WARNING=1 # the theme's notice about its successor, printed on every build

install() {
  if [ -x "$VENV/bin/mkdocs" ] && cmp -s "$REQUIREMENTS" "$VENV/requirements.txt"; then return; fi
  log "installing mkdocs and mkdocs-material into $VENV"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends python3-venv >&2
  fi
  rm -rf "$VENV"
  mkdir -p .cache
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
  cp "$REQUIREMENTS" "$VENV/requirements.txt"
}

install
case "${1:-build}" in
  --install) ;;
  # Not --quiet: it hides warnings from --strict too, and the build passes with broken links.
  build) "$VENV/bin/mkdocs" build --strict && log "site built in .cache/site" ;;
  *) exec "$VENV/bin/mkdocs" "$@" ;;
esac
