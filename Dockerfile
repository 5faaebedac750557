# One image for every Partage service; the command picks the service (`partage serve <name>`).
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
COPY bench ./bench
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /var/lib/partage partage \
    && mkdir -p /var/lib/partage && chown partage /var/lib/partage

USER partage
WORKDIR /var/lib/partage

ENTRYPOINT ["partage"]
CMD ["serve", "registry"]
