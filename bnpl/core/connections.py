"""A task keeps its database connection as a request does.

Celery's Django fixup closes every database connection before and after every task, whatever
``CONN_MAX_AGE`` says (Celery 5.6 reverted the reuse: celery/celery#9824), unless
``CELERY_DB_REUSE_MAX`` is set, and then it closes them only every that many tasks, checking nothing in
between. A new PostgreSQL connection (a backend forked, authenticated, its caches filled again) costs
more than most of our tasks do: the webhook fan-out after each committed transaction, a notification.

So the settings set ``CELERY_DB_REUSE_MAX`` and this module gives each task Django's own rule for
requests: ``close_old_connections()`` when it starts and when it ends. That drops a connection older
than ``CONN_MAX_AGE``, one an error left unusable or one left outside autocommit, and has the rest
checked at their next use (``CONN_HEALTH_CHECKS``), so a connection the server dropped between two
tasks is replaced instead of failing the second one.
"""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections


def task_connections_tidy(sender: Any = None, **signal: Any) -> None:
    """Connected to ``task_prerun`` and ``task_postrun``. A task run eagerly belongs to its caller,
    maybe inside the caller's transaction: its connections are the caller's to manage."""
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    close_old_connections()
