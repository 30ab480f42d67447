# regcred-operator image: `docker build -t <registry>/regcred-operator:<version> .`
#
# Multi-stage on a supported Node.js LTS (22, Debian bookworm slim). The build stage compiles the
# TypeScript; the runtime stage holds only dist/ and the production dependencies, runs as a
# non-root user (65532, "nonroot") and writes nothing to its filesystem, so it runs with
# readOnlyRootFilesystem. `node dist/main.js` is PID 1: it handles SIGTERM itself (stops the
# workers, waits for reconciles in flight, releases the leader-election Lease, exits 0).
#
# `npm install` rather than `npm ci`: see hack/setup.sh (the lock made on the project's machines
# lists only the Linux builds of an optional test dependency; npm install keeps every locked version).
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS production-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-audit --no-fund && rm -rf /root/.npm

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
USER 65532:65532
# 8080: /metrics, 8081: /healthz and /readyz
EXPOSE 8080 8081
# V8 heap sizing: a young generation of at most 1 MiB and an old generation that grows by 10 %
# over what a full collection leaves, so the peak memory stays low at the price of a little CPU.
# They change only how V8 sizes its heap, never what the operator does. They live here, not in
# NODE_OPTIONS, because node refuses --heap-growing-percent there; the tests and the benchmark run
# every operator with exactly these flags (read from this line), so the memory figures in
# docs/benchmarks.md, which also holds the measurements behind the choice, are the image's.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--heap-growing-percent=10", "dist/main.js"]
