#!/usr/bin/env bash
# Serve the demo: a Celery worker with embedded beat (periodic work) in the background, and the web
# server in the foreground. Ctrl-C stops both.
set -euo pipefail
port="${1:-8000}"
cd "$(dirname "$0")/.."
# The demo's settings, on purpose (every entry point defaults to production, which refuses the
# embedded parts the demo runs on).
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-bnpl.settings.demo}"
mkdir -p var
# DEBUG is off (bnpl.settings.demo): WhiteNoise serves the static files from STATIC_ROOT, collected here.
.venv/bin/python manage.py collectstatic --noinput --verbosity 0
.venv/bin/celery -A bnpl worker --beat --loglevel=INFO --concurrency=1 \
    --schedule=var/celerybeat-schedule >var/celery.log 2>&1 &
worker=$!
trap 'kill "$worker" 2>/dev/null || true' EXIT INT TERM
echo "Celery worker + beat running (pid $worker, log var/celery.log). Serving on http://127.0.0.1:${port}/"
.venv/bin/python manage.py runserver "127.0.0.1:${port}" --noreload
