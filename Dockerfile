# One image for all four services; the command picks the service:
#   docker run ... rabbit-orders:latest python -m inventory_service
# Everything else comes from the environment (shared/settings.py; docker-compose.yml).
# The Python: compose passes PYTHON_IMAGE from .env (3.13 there too); the code runs on 3.11
# and later (`docker build --build-arg PYTHON_IMAGE=python:3.11-slim .`).
ARG PYTHON_IMAGE=python:3.13-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    HTTP_HOST=0.0.0.0 \
    LOG_FORMAT=json

# Dependencies first, read from pyproject.toml: this layer is rebuilt when they change,
# not on every change to the code.
COPY pyproject.toml /tmp/pyproject.toml
RUN python -m venv /opt/venv \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --requirement /tmp/requirements.txt \
 && rm /tmp/requirements.txt /tmp/pyproject.toml \
 && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home app

# The code runs from /app (PYTHONPATH), owned by root so the service cannot rewrite it; only
# var/ (SQLite, when no DATABASE_URL is given) is the service's to write.
WORKDIR /app
COPY shared/ shared/
COPY order_service/ order_service/
COPY inventory_service/ inventory_service/
COPY notification_service/ notification_service/
COPY audit_service/ audit_service/
COPY docker/healthcheck.py /usr/local/lib/healthcheck.py
RUN python -m compileall -q /app /usr/local/lib/healthcheck.py \
 && mkdir var && chown app:app var

USER 10001:10001
EXPOSE 8000 8001 8002 8003
HEALTHCHECK --interval=10s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/lib/healthcheck.py"]
# Exec form: the service is PID 1 and gets SIGTERM itself (uvicorn then drains and stops).
CMD ["python", "-m", "order_service"]
