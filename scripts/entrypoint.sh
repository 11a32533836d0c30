#!/bin/sh
# The image's entry point: one image, every process, chosen by the first argument.
#   web      gunicorn with gunicorn.conf.py (port 8000; WEB_CONCURRENCY workers)
#   worker   a Celery worker; CELERY_QUEUES chooses its queues (default: all of them)
#   beat     Celery beat, ONE per deployment (celery-redbeat's Redis lock makes a second one wait)
#   migrate  apply the database migrations, then exit (a one-shot task before each deploy)
#   check    manage.py check --deploy
#   manage   any other manage.py command: entrypoint.sh manage createsuperuser
# Each replaces this shell (exec), so it receives SIGTERM itself and shuts down gracefully.
set -eu
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-bnpl.settings.production}"
if [ "$DJANGO_SETTINGS_MODULE" = "bnpl.settings.build" ]; then
    echo "bnpl.settings.build is for the image's collectstatic step only" >&2
    exit 64
fi
command="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$command" in
    web)
        exec gunicorn --config gunicorn.conf.py bnpl.wsgi:application "$@"
        ;;
    worker)
        exec celery --app bnpl worker --loglevel "${CELERY_LOG_LEVEL:-INFO}" \
            --queues "${CELERY_QUEUES:-urgent,collections,lake,settlements,default}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" --without-gossip --without-mingle "$@"
        ;;
    beat)
        exec celery --app bnpl beat --loglevel "${CELERY_LOG_LEVEL:-INFO}" \
            --scheduler redbeat.RedBeatScheduler "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    check)
        exec python manage.py check --deploy "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        echo "usage: entrypoint.sh web|worker|beat|migrate|check|manage [arguments]" >&2
        exit 64
        ;;
esac
