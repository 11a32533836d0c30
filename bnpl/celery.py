"""The Celery application. Broker from CELERY_BROKER_URL (Redis or RabbitMQ in CI and production;
kombu's filesystem transport under var/ for the demo). Beat schedule in settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.production")

app = Celery("bnpl")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
