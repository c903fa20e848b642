# syntax=docker/dockerfile:1
# Build: a wheel of the service (it carries the Alembic scripts inside the package).
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN python -m build --wheel --outdir /dist

# Run: the wheel and its dependencies in a virtual environment, as an unprivileged user.
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/certsvc/bin:$PATH \
    CERTSVC_ENV=production \
    CERTSVC_DATA_DIR=/var/lib/certsvc
RUN python -m venv /opt/certsvc \
    && groupadd --system certsvc \
    && useradd --system --gid certsvc --home-dir /var/lib/certsvc --create-home certsvc
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER certsvc
WORKDIR /var/lib/certsvc
EXPOSE 8000
# Liveness only; readiness (/readyz) belongs to the orchestrator's probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
# Migrations are a deploy step (`certsvc migrate` as a one-off job or init container), not
# part of each replica's start: on PostgreSQL `serve` does not migrate.
CMD ["certsvc", "serve", "--host", "0.0.0.0", "--port", "8000"]
