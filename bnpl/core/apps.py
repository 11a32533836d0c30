from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "bnpl.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun
        from django.core.signals import request_started

        from bnpl.core import (
            checks,  # noqa: F401  (registers the deployment checks)
            connections,
            replica,
            telemetry,
        )

        # A task's database connections live as long as a request's (CONN_MAX_AGE, checked before reuse).
        task_prerun.connect(connections.task_connections_tidy, dispatch_uid="bnpl.core.connections.prerun")
        task_postrun.connect(connections.task_connections_tidy, dispatch_uid="bnpl.core.connections.postrun")

        # Read-your-writes is per unit of work: each request and each task starts with nothing written.
        request_started.connect(replica.new_unit_of_work, dispatch_uid="bnpl.core.replica.request")
        task_prerun.connect(replica.new_unit_of_work, dispatch_uid="bnpl.core.replica.task")

        telemetry.start()  # Sentry and OpenTelemetry, each only when its setting is given
