# One image for every Sluice role: `docker run sluice <role> --config FILE`.
# Built in two stages so the runtime image holds only the compiled code and production packages.

# Node 22 (LTS); the code also runs on Node 20.19 and later (package.json engines).
FROM node:22-slim AS build
WORKDIR /app
# Dependencies first, so editing the source does not invalidate the npm ci layer.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# What only building and testing need stays here: the tests, the benchmarks, the build scripts
# and the TypeScript sources (the roles run the compiled dist/).
RUN npm run build \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && rm -rf dist/test dist/bench dist/.tsbuildinfo test bench scripts \
  && find . -path ./node_modules -prune -o -type f -name '*.ts' -print0 | xargs -0 rm -f \
  && find adapter worker response-worker shared cli legacy-sim xroad-sim -depth -type d -empty -delete

FROM node:22-slim
ENV NODE_ENV=production
WORKDIR /app
# The roles run on node alone: the base image's package managers (npm, npx, corepack, yarn) are
# build tools, which would let code that took over a role fetch and run more, so they go.
RUN groupadd --system --gid 10001 sluice \
  && useradd --system --uid 10001 --gid sluice --no-create-home --shell /usr/sbin/nologin sluice \
  && rm -rf /usr/local/lib/node_modules /opt/yarn-* \
    /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg
# Owned by root and read-only to the process: the gateway writes nothing to its own tree.
COPY --from=build /app /app
USER 10001:10001
# Service port (adapter) and admin port (/metrics, /healthz, /readyz) of every role.
EXPOSE 8080 9090
# Node handles SIGTERM itself: Sluice drains on it, so no init wrapper is needed.
ENTRYPOINT ["node", "bin/sluice.js"]
# Without arguments: the whole gateway (all roles) on the configuration mounted at
# /etc/sluice/sluice.yaml; it refuses to start when there is none. The demo, whose secrets are
# public, only ever runs when asked for by name (`docker run sluice demo`).
CMD ["all", "--config", "/etc/sluice/sluice.yaml"]
