#!/usr/bin/env bash
# The test command: sets up what is missing (hack/setup.sh), type-checks, lints, builds the docs
# site strictly, then runs the unit tests, the alert rules' tests (promtool), the integration suite
# on a real local control plane of the newest supported Kubernetes minor and again of the oldest,
# the e2e suite on a real node, the fault suite and the benchmark at their quick size.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash hack/setup.sh
npm run --silent typecheck
npm run --silent lint && npm run --silent format:check  # typescript-eslint, prettier (npm run format fixes layout)
# The documentation site (hack/docs.sh: mkdocs build --strict): a broken link or anchor fails here.
bash hack/docs.sh
npm run --silent test:unit -- --ci
# The alert rules (deploy/alerts/): promtool, built from the Go module proxy, checks them and runs their
# unit tests; test/integration/monitoring.test.ts holds the tests' series to a real scrape of the operator.
promtool="$(bash hack/build-promtool.sh | tail -1)/promtool"
"$promtool" check rules deploy/alerts/regcred-operator.rules.yaml
"$promtool" test rules deploy/alerts/tests/*.yaml
# The node plugin's own unit tests (plugin/, cargo test; its behaviour is proven end to end below).
cargo test --quiet --locked --manifest-path plugin/Cargo.toml --target-dir "${REGCRED_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}/plugin-target"
npm run --silent test:integration -- --ci --runInBand
# The integration suite again on the oldest supported minor (README: Supported Kubernetes versions),
# the CRD's CEL rules included: the harness builds and starts the control plane of KUBE_VERSION. The
# files whose subject is a registry provider's own API (a stand-in answering the same on any cluster)
# run on the newest minor only; what they ask of the API server (Secrets, status, Events) the other
# files cover. quay stays: it asks the API server for TokenRequest and TokenReview.
KUBE_VERSION=1.33.13 npm run --silent test:integration -- --ci --runInBand \
  --testPathIgnorePatterns '/test/integration/(harbor|gitlab|github|ecr|ecr-faults|ecr-public|gcp|acr)\.test\.ts$'
# The e2e suite on a real node (kubelet + containerd + runc, needs root): Pods pull with what the
# operator wrote, and the operator runs as Pods of the image built from the Dockerfile.
npm run --silent test:e2e -- --ci
# The fault suite (test/faults/) at its quick size; `npm run test:faults` runs the full size.
REGCRED_FAULTS_SIZE=quick npm run --silent test:faults -- --ci
# The benchmarks at their quick size: a smoke test that they still run end to end, not a timing check.
node --import ./hack/ts-loader.mjs bench/run.ts --quick
node --import ./hack/ts-loader.mjs bench/kubelet.ts --quick
node --import ./hack/ts-loader.mjs bench/webhook.ts --quick
echo "[test] all green in $(( $(date +%s) - started )) s" >&2
