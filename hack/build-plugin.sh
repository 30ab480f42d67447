#!/usr/bin/env bash
# Build the node side of kubelet delivery, plugin/ (regcred-kubelet-plugin), as one static binary
# (no libc, no Node.js needed on the node) with cargo from crates.io at the versions of
# plugin/Cargo.lock. Cargo's target dir is cached outside the clone
# ($REGCRED_CACHE_DIR/plugin-target), so a rebuild only compiles what changed; nothing depends on
# that cache being there.
#
# Usage: hack/build-plugin.sh     prints the binary's path on its last line
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
TARGET_DIR="$CACHE/plugin-target"
TRIPLE=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
log() { echo "[build-plugin] $*" >&2; }
command -v cargo >/dev/null || { log "cargo is not installed: the node plugin is built with Rust (rustup or Debian's cargo)"; exit 1; }
# crt-static: libc linked in; --target keeps build scripts dynamic (they run here, not on a node).
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --locked --release \
  --manifest-path plugin/Cargo.toml --target "$TRIPLE" --target-dir "$TARGET_DIR" >&2
BIN="$TARGET_DIR/$TRIPLE/release/regcred-kubelet-plugin"
log "$("$BIN" --version), $(stat -c %s "$BIN") bytes"
echo "$BIN"
