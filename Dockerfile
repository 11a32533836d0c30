# One image for every process (docs/deploy.md): web, worker, beat and the migrate one-shot, chosen by
# the command (scripts/entrypoint.sh). Linted by hadolint in `make lint`; built where a container
# daemon runs:  docker build -t bnpl .
#
# The base is the Python that CI runs (python3.11, 3.11.7) on Debian bookworm, slim.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# --- build: the virtual environment, by the same install script CI's `make` runs ----------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY scripts/install.sh scripts/install.sh
COPY requirements.txt requirements.txt
# Every runtime requirement installs from a wheel (psycopg2-binary, xgboost-cpu, ...): no compiler.
RUN PYTHON=python sh scripts/install.sh /opt/venv requirements.txt

# --- static: collectstatic under the build-only settings (production's storage, no secrets) ----
FROM build AS static
COPY . .
RUN DJANGO_SETTINGS_MODULE=bnpl.settings.build STATIC_ROOT=/app/staticfiles \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0

# --- runtime: the environment, the code and the collected files (owned by root, read-only to the
# process); no build tools; runs as an unprivileged user -------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=bnpl.settings.production \
    STATIC_ROOT=/app/staticfiles
RUN groupadd --system --gid 10001 bnpl \
    && useradd --system --uid 10001 --gid bnpl --home-dir /app --shell /usr/sbin/nologin bnpl
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY . .
# The project's modules compiled here, once: the code is read-only to the process and
# PYTHONDONTWRITEBYTECODE is set, so every process would otherwise compile each module it imports at
# every start (~0.3 s of CPU for a Django process).
RUN python -m compileall -q -j 0 /app
COPY --from=static /app/staticfiles /app/staticfiles
USER 10001:10001
EXPOSE 8000
# Alive, not ready: /healthz touches no dependency (the load balancer's target group asks /readyz).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
ENTRYPOINT ["sh", "scripts/entrypoint.sh"]
CMD ["web"]
