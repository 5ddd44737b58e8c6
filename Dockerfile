# The routeplane image: the npm package (`npm pack`, as the GitHub Action
# builds it, ADR 14) installed into node:24-slim. Its entrypoint is the
# `routeplane` command: deploy/ runs `routeplane controller`, a sidecar runs
# `routeplane serve`.
#
#   docker build -t ghcr.io/routeplane/routeplane:0.1.0 .
#
# Not built or run in this repository's CI yet (docs/kubernetes.md, "Install").

FROM node:24-slim AS pack
WORKDIR /src
COPY . .
# Building the package needs only the TypeScript compiler, at the version package-lock.json pins.
RUN ts="$(node -p 'require("./package-lock.json").packages["node_modules/typescript"].version')" \
 && npm install --prefix /tools --no-audit --no-fund "typescript@$ts"
ENV PATH=/tools/node_modules/.bin:$PATH
RUN npm pack --pack-destination /out

FROM node:24-slim
COPY --from=pack /out/ /tmp/pack/
# Only the package's runtime dependencies (a tarball's devDependencies are never installed).
RUN npm install --global --no-audit --no-fund /tmp/pack/routeplane-*.tgz \
 && rm -rf /tmp/pack /root/.npm \
 && routeplane --version
# node:24-slim's `node` user, by number, so Kubernetes can check runAsNonRoot.
USER 1000:1000
ENTRYPOINT ["routeplane"]
CMD ["--help"]
