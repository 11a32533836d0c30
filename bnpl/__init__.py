"""The BNPL platform's Django project and core lending domain."""

from bnpl.celery import app as celery_app

__all__ = ["celery_app"]
