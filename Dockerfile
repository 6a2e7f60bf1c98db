# syntax=docker/dockerfile:1.7
#
# Sidekick container image.
#   docker build -t sidekick .
#   docker run --rm -p 2801:2801 --read-only --user 1234:1234 -e SLACK_WEBHOOKURL=... sidekick
#
# Stages: manifests (package.json files only, for layer caching) -> build (full install,
# esbuild bundle via Nx) -> deps (production node_modules only) -> runtime.
# For reproducible production builds pin the base image by digest:
#   --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:...
ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------
# Only the npm manifests, so `npm ci` layers are reused until a dependency changes.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN find . -type f ! -name package.json ! -name package-lock.json -delete \
 && find . -type d -empty -delete

# ---------------------------------------------------------------------------------------
# Build the bundle (apps/sidekick/dist/main.mjs). The output is plain JavaScript, so this
# stage runs on the build machine's platform even for multi-arch images.
FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS build
ENV NX_DAEMON=false \
    NX_NO_CLOUD=true \
    NX_TUI=false \
    CI=true
WORKDIR /src
COPY --from=manifests /src ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY . .
RUN npx nx run @sidekick/app:build --skip-nx-cache \
 && test -s apps/sidekick/dist/main.mjs

# ---------------------------------------------------------------------------------------
# Production dependencies only (effect, @effect/*, @opentelemetry/*, prom-client, yaml,
# lossless-json, undici: what the bundle leaves external). Runs on the target platform so
# a future native dependency would still get the right binary. The workspace packages are
# bundled, so their node_modules/@sidekick symlinks (dangling in the runtime image) go.
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY --from=manifests /src ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@sidekick \
 && mkdir -p apps/sidekick/node_modules

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    LISTENPORT=2801 \
    DELIVERY_SPOOL_DIR=/var/lib/sidekick/spool \
    NODE_OPTIONS="--max-old-space-size=192"
# The package managers are not needed at runtime (and npm would try to write to $HOME).
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && mkdir -p /var/lib/sidekick/spool \
 && chown -R 1234:1234 /var/lib/sidekick
WORKDIR /app
# Application files stay owned by root and read-only for the service user.
COPY --from=deps /src/package.json ./package.json
COPY --from=deps /src/node_modules ./node_modules
COPY --from=deps /src/apps/sidekick/node_modules ./apps/sidekick/node_modules
COPY --from=build /src/apps/sidekick/dist ./apps/sidekick/dist

# Non-root, numeric so Kubernetes can verify runAsNonRoot. Works with a read-only root
# filesystem: the service writes only to the spool volume (and /tmp when mounted).
USER 1234:1234
EXPOSE 2801
VOLUME ["/var/lib/sidekick"]
# node runs as PID 1 (exec form, no shell) and handles SIGTERM itself: it stops accepting
# events, drains the output queues within delivery.shutdowntimeout and exits 0. It starts
# no child processes, so no init is needed to reap zombies (`docker run --init` still works).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.LISTENPORT||2801)+'/ping').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "--enable-source-maps", "apps/sidekick/dist/main.mjs"]
