# One image for every Partage service; the command picks the service (`partage serve <name>`).

# The portal's comparison viewer (Cornerstone3D), bundled with Vite from its locked packages.
FROM node:20-bookworm-slim AS viewer
WORKDIR /viewer
COPY portal/viewer/package.json portal/viewer/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY portal/viewer/ ./
RUN npm run build -- --logLevel error

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Locked dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY ihe ./ihe
COPY partage ./partage
COPY registry ./registry
COPY repository ./repository
COPY gateway ./gateway
COPY portal ./portal
COPY consent ./consent
COPY --from=viewer /viewer/dist ./portal/viewer/dist
COPY bench ./bench
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/partage partage \
    && mkdir -p /var/lib/partage && chown partage /var/lib/partage

USER partage
WORKDIR /var/lib/partage

ENTRYPOINT ["partage"]
CMD ["serve", "registry"]
