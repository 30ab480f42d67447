#!/usr/bin/env bash
# Installs everything the tests, the demo and the benchmark need on a fresh Debian machine that has
# Node.js, npm and Go: the Debian packages (a real registry, skopeo, htpasswd, openssl, setpriv; and
# for the real node: containerd, runc, CNI plugins, iptables, busybox-static, gcc, buildah),
# the npm dependencies, moto (PyPI, into .cache/moto-venv), mkdocs and mkdocs-material (PyPI, into
# .cache/docs-venv), the Kubernetes control-plane binaries of the newest and the oldest supported
# minor, helm, promtool and Prometheus (all built from the Go module proxy, cached), and the operator
# itself. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[setup] $*" >&2; }

# command:package. The second line is the real node of the e2e suite (test/harness/node.ts):
# containerd, runc and the CNI plugins run Pods, busybox-static and gcc make the test images (the
# Pod sandbox image is compiled here), buildah builds the operator's image from the Dockerfile.
need=()
for pair in docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils openssl:openssl setpriv:util-linux python3:python3 \
    containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins iptables:iptables ip:iproute2 \
    /bin/busybox:busybox-static buildah:buildah gcc:gcc /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev; do
  cmd=${pair%%:*}
  if [ "${cmd#/}" != "$cmd" ]; then [ -e "$cmd" ] || need+=("${pair#*:}"); else command -v "$cmd" >/dev/null || need+=("${pair#*:}"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing Debian packages: ${need[*]}"
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies (from package-lock.json)"
  # `npm install`, not `npm ci`: the registry these machines reach serves only the Linux builds of
  # jest's optional native resolver (@unrs/resolver-binding-*), so the lock cannot list the other
  # platforms' ones and `npm ci` rejects it as "out of sync". `npm install` keeps the locked
  # versions of everything the lock lists.
  npm install --no-audit --no-fund >&2
fi

# moto (ECR + STS emulator for the integration tests) in an ignored virtualenv; keep the
# requirement in step with test/harness/moto.ts.
if ! .cache/moto-venv/bin/python -c 'import moto.server, flask' 2>/dev/null; then
  log "installing moto into .cache/moto-venv"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends python3-venv >&2
  fi
  mkdir -p .cache
  python3 -m venv .cache/moto-venv
  .cache/moto-venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6' >&2
fi

# mkdocs and mkdocs-material (PyPI, into .cache/docs-venv) for the documentation site: hack/docs.sh
# holds the requirement and installs only what is missing.
bash hack/docs.sh --install

log "control-plane and node binaries (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet)"
bash hack/build-controlplane.sh >/dev/null
log "the same of the oldest supported minor (npm test runs the integration suite on it too)"
KUBE_VERSION=1.33.13 bash hack/build-controlplane.sh >/dev/null

log "the node plugin of kubelet delivery (plugin/, Rust, one static binary)"
if ! command -v cargo >/dev/null; then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  log "installing Debian's cargo (no Rust toolchain on PATH)"
  $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq --no-install-recommends cargo >&2
fi
bash hack/build-plugin.sh >/dev/null

log "helm (for the chart tests)"
bash hack/build-helm.sh >/dev/null

log "promtool and Prometheus (the alert rule tests; the dashboard picture)"
bash hack/build-promtool.sh >/dev/null

log "building the operator"
npm run --silent build >&2
log "done"
