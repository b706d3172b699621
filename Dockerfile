# One image for all three apps: intake-api (default), delivery-worker and wegroup-sandbox.
# Pick another app by overriding the command, e.g. `node --max-old-space-size=128 dist/apps/delivery-worker/main.js`
# (scripts/apps.js lists how each app is started).

############################
# build: full deps, compile
############################
FROM node:20-bookworm-slim AS build
# No install-time analytics ping from @scarf/scarf (a transitive dependency).
ENV SCARF_ANALYTICS=false
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build

############################
# runtime: prod deps + dist
############################
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    SCARF_ANALYTICS=false
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# Owned by root, read-only for the app user.
COPY --from=build /app/dist ./dist
# The ops console's templates and files, found from the package root (htmx and uPlot come from node_modules).
COPY --from=build /app/apps/intake-api/views ./apps/intake-api/views
COPY --from=build /app/apps/intake-api/public ./apps/intake-api/public

USER node
EXPOSE 3000
CMD ["node", "--max-old-space-size=128", "dist/apps/intake-api/main.js"]
