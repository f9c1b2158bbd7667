# syntax=docker/dockerfile:1
#
# Tessera container image.
#
#   docker build -t tessera .                    # the runtime image (last stage)
#   docker run tessera                           # HTTP only (`serve`, the default CMD)
#   docker run tessera worker                    # BullMQ workers only
#   docker run tessera all                       # both in one process (like `npm start`)
#   docker run --rm --entrypoint /nodejs/bin/node tessera dist/cli.js --help   # the CLI
#
# Stages: `build` compiles src/ to dist/ with the full dependency tree; `prod-deps`
# installs production dependencies only; `runtime` (the default target) is distroless
# Node.js 20 on Debian 12 running as uid 65532. `demo` is the example resource server
# used by docker-compose's `demo` profile.

# ---- build: compile TypeScript to dist/ ---------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# argon2 and msgpackr-extract are compiled at install (README, "Install scripts"): their prebuilt
# binaries are not trusted on this platform.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --build-from-source
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
# The runtime image's one writable folder (audit exports; PGlite when DATABASE_URL is
# unset), made here because the runtime image has no shell to mkdir with.
RUN mkdir -p /image/var/lib/tessera/exports

# ---- prod-deps: production node_modules only (tsx stays: it is a runtime dependency) --
FROM node:20-bookworm-slim AS prod-deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --build-from-source && npm cache clean --force

# ---- demo: examples/koa-resource-server.ts, run with tsx (docker-compose `demo` profile)
FROM gcr.io/distroless/nodejs20-debian12:nonroot AS demo
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=4000
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY src ./src
COPY packages ./packages
COPY examples ./examples
USER 65532:65532
EXPOSE 4000
STOPSIGNAL SIGTERM
ENTRYPOINT ["/nodejs/bin/node", "--import", "tsx", "examples/koa-resource-server.ts"]

# ---- runtime: the Tessera image (default target, keep it last) ------------------------
FROM gcr.io/distroless/nodejs20-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Tessera" \
      org.opencontainers.image.description="OpenID Connect issuer whose access-token scopes are computed from roles at issuance" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs20-debian12:nonroot"

WORKDIR /app
# TESSERA_DATA_DIR points at the one writable folder; TESSERA_EXPORT_DIR defaults to
# its exports/ subfolder, which every serve and worker container must share (a volume).
ENV NODE_ENV=production \
    PORT=3000 \
    TESSERA_DATA_DIR=/var/lib/tessera

# Application files stay owned by root, so the process (uid 65532) cannot change them.
COPY --from=prod-deps /app/node_modules ./node_modules
# package.json's "type": "module" makes Node load dist/*.js as ES modules.
COPY package.json ./
COPY --from=build /app/dist ./dist
# dist/db/client.js finds the migrations at ../../drizzle, i.e. /app/drizzle.
COPY drizzle ./drizzle
# Copies the tessera/ folder itself (not only its contents), so it is owned by 65532 too;
# a new named volume mounted there starts with that owner.
COPY --from=build --chown=65532:65532 /image/var/lib /var/lib

# The :nonroot base already runs as 65532; stating it keeps the image non-root even if
# the base tag changes.
USER 65532:65532
EXPOSE 3000
# main.ts drains HTTP and lets active jobs finish on SIGTERM; give containers a stop
# timeout longer than that (docker-compose.yml sets stop_grace_period).
STOPSIGNAL SIGTERM
# No shell in distroless: exec form, running the compiled probe with the image's node.
# It GETs http://127.0.0.1:$PORT/healthz (liveness). `worker` containers serve no HTTP:
# run them with --no-healthcheck (docker-compose.yml disables it for the worker).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["/nodejs/bin/node", "dist/healthcheck.js"]

ENTRYPOINT ["/nodejs/bin/node", "--enable-source-maps", "dist/main.js"]
CMD ["serve"]
