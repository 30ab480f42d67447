#!/usr/bin/env bash
# Build the installer image of kubelet delivery (Dockerfile.installer: FROM scratch, the static
# plugin binary of hack/build-plugin.sh) with buildah, in a storage of its own under a temporary
# directory, and write it as an OCI archive.
#
# Usage: hack/build-installer-image.sh ARCHIVE [NAME]
#   NAME defaults to ghcr.io/regcred-operator/regcred-kubelet-plugin:<plugin version>;
#   prints the image name on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHIVE=${1:?usage: hack/build-installer-image.sh ARCHIVE [NAME]}
log() { echo "[build-installer-image] $*" >&2; }
command -v buildah >/dev/null || { log "buildah is not installed (apt: buildah)"; exit 1; }
BIN=$(bash hack/build-plugin.sh | tail -1)
VERSION=$("$BIN" --version | awk '{print $2}')
NAME=${2:-ghcr.io/regcred-operator/regcred-kubelet-plugin:$VERSION}
work=$(mktemp -d)
store=(--root "$work/root" --runroot "$work/runroot" --storage-driver vfs)
cleanup() { buildah "${store[@]}" rmi --all --force >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
# the build context: the binary alone
mkdir "$work/context"
cp "$BIN" "$work/context/regcred-kubelet-plugin"
buildah "${store[@]}" bud --quiet --isolation chroot --pull-never --layers=false \
  -f "$PWD/Dockerfile.installer" -t "$NAME" "$work/context" >&2
rm -f "$ARCHIVE"
buildah "${store[@]}" push --quiet "$NAME" "oci-archive:$ARCHIVE:$NAME" >&2
log "$NAME -> $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
echo "$NAME"
