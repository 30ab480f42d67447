#!/usr/bin/env bash
# npm run bench [-- --quick]: see bench/run.ts for sizes and knobs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash hack/setup.sh
exec node --enable-source-maps --import ./hack/ts-loader.mjs bench/run.ts "$@"
