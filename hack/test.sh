#!/usr/bin/env bash
# The test command: sets up what is missing (hack/setup.sh), type-checks, then runs the unit tests
# and the integration suite on a real local control plane.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash hack/setup.sh
npm run --silent typecheck
npm run --silent test:unit -- --ci
npm run --silent test:integration -- --ci --runInBand
echo "[test] all green in $(( $(date +%s) - started )) s" >&2
