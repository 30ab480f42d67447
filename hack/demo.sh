#!/usr/bin/env bash
# npm run demo: the operator end to end (hack/demo.ts) on the cluster of $KUBECONFIG or, when it is
# not set, on a throwaway local control plane (etcd, kube-apiserver, kube-controller-manager built
# by hack/build-controlplane.sh: cached, a cold build takes 15-25 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || { echo "[demo] node_modules is missing: run bash hack/setup.sh first" >&2; exit 1; }
echo "[demo] building the operator (dist/)" >&2
npm run --silent build
if [ -z "${KUBECONFIG:-}" ]; then
  # its stderr: the build's progress (or one version line per cached binary); stdout's last line: the bin dir
  REGCRED_DEMO_BIN_DIR=$(bash hack/build-controlplane.sh | tail -n 1) || {
    echo "[demo] hack/build-controlplane.sh failed (see above)" >&2; exit 1; }
  export REGCRED_DEMO_BIN_DIR
fi
exec node --enable-source-maps --import ./hack/ts-loader.mjs hack/demo.ts "$@"
