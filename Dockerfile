# syntax=docker/dockerfile:1
# One image for every deployable. The command picks the service (see docker-compose.yml and
# deploy/k8s): node dist/<service>.js (what `npm run start:<service>` runs). Without a command it
# runs the embedded all-in-one mode (`npm start`). Not built in CI: no Docker engine runs there.

ARG NODE_IMAGE=node:20-slim

# Only the package manifests, so the dependency layer below is rebuilt only when they change.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete && find . -type d -empty -delete

# The bundles of scripts/build.mjs (esbuild is a dev dependency): plain JavaScript in dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY --from=manifests /src/ ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build.mjs

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /src/ ./
# Runtime dependencies only; the build, test and benchmark tool chain stays out.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (which drains NATS and closes pools) and reaps zombies.
# jemalloc as the allocator: after a burst of load glibc's malloc kept ~20-30 MiB per process of
# freed, fragmented memory resident for good (gateway RSS 111 -> 123 MiB a minute after 2,000
# connections, with the V8 heap back where it started); jemalloc hands freed pages back within
# seconds (111 -> 83 MiB). MALLOC_ARENA_MAX=2 did not help. Its background thread purges freed pages
# in an idle process too (without it jemalloc purges only when something allocates, and an idle
# connector kept 35 MiB). docs/benchmarks.md, "Load". Two arenas instead of jemalloc's 4 per CPU,
# each of which keeps free pages of its own (V8's helper threads free and allocate from others than
# the main thread's): a 100 MB CSV upload peaked ~10 MiB lower in gateway + ingestion, same CPU.
RUN apt-get update && apt-get install -y --no-install-recommends tini libjemalloc2 \
    && ln -s "/usr/lib/$(uname -m)-linux-gnu/libjemalloc.so.2" /usr/local/lib/libjemalloc.so.2 \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080 \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,narenas:2
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --chown=root:root . .
COPY --from=build --chown=root:root /src/dist ./dist
# The image's files stay root-owned (read-only to the app); only DATA_DIR is writable.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--"]
# One node process (no npm wrapper in between), so SIGTERM reaches the app directly.
CMD ["node", "dist/start-all.js"]
