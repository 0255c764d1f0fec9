# syntax=docker/dockerfile:1
#
# il6-cds, two stages:
#   build    compiles the TypeScript, the FHIR R4 validators and the SQLite driver (from source: python3, make,
#            g++) with every dependency, then drops the dev dependencies;
#   runtime  the compiled service with production dependencies only, as the unprivileged `node` user.
#
#   docker build -t il6-cds .
#   docker run --rm -p 8080:8080 -e AUTH=disabled il6-cds        # development only; see README "Deployment"
#
# The same image runs the CLI (`il6-cds load|fire|validate-rules`), e.g. the compose job that loads HAPI.

ARG NODE_IMAGE=node:20.19-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: `prepare` would build before the sources are here. The one native module is built explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 --build-from-source
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/app/.local/data
WORKDIR /app
# Code and data are owned by root and read-only for the service; only .local/ (SQLite file, development
# issuer keys) is writable.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY cds-services ./cds-services
COPY fhir-fixtures ./fhir-fixtures
COPY src/preview/page ./src/preview/page
RUN ln -s /app/bin/il6-cds.js /usr/local/bin/il6-cds \
 && mkdir -p /app/.local/data /app/.local/dev-issuer \
 && chown -R node:node /app/.local
USER node
EXPOSE 8080
# Liveness only (/readyz also checks the store: a database outage must not get replicas killed and restarted).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM: stop accepting, finish in-flight hooks, flush card history, exit 0 (SHUTDOWN_TIMEOUT_MS).
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
