# syntax=docker/dockerfile:1
# One image for every askq role: `askq worker` (the default command) and `askq serve` (HTTP API
# + Bull Board). Build: docker build -t askq . — run: docker run askq [worker|serve|ask …].

# --- build: compile src/ to dist/ ------------------------------------------------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts skipped: `prepare` would run tsc before the sources are here (the build follows), and
# install scripts only fetch binaries the build does not need (the `node` package's Node 24,
# onnxruntime's). The `node` package pins Node 24 on machines with an older system Node; this
# image is Node 24 already, and without its install script its bin/node is no Node at all, so
# its link goes and `npm run` uses the image's node.
RUN npm ci --ignore-scripts && rm -f node_modules/.bin/node
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies, dist/, schemas/, examples/ ----------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. --ignore-scripts because `prepare` runs tsc, a dev dependency.
# Optional dependencies stay: LanceDB's native package (@lancedb/lancedb-linux-*) is one, and
# ships prebuilt, as do msgpackr's and sharp's.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY examples ./examples
# Writable by the node user: the local LanceDB store (a volume in docker-compose.yml; a named
# volume takes this folder's owner) and .askq/ (eval runs' default output folder).
RUN mkdir -p /data/store /app/.askq && chown -R node:node /data /app/.askq
ENV ASKQ_LOCAL_STORE_DIR=/data/store

USER node
EXPOSE 3000

# `askq serve` is healthy when GET /healthz answers on PORT. A worker has no port: its health is
# its process (a worker that stops exits, and the container with it), so the check passes
# whenever no process of the container runs `serve`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "const fs = require('node:fs'); const serving = fs.readdirSync('/proc').filter((p) => /^[0-9]+$/.test(p)).some((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').split(String.fromCharCode(0)).includes('serve'); } catch { return false; } }); if (!serving) process.exit(0); fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));"]

ENTRYPOINT ["node", "dist/cli.js"]
CMD ["worker"]
