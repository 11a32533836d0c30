from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "bnpl.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from celery.signals import task_prerun
        from django.core.signals import request_started

        from bnpl.core import (
            checks,  # noqa: F401  (registers the deployment checks)
            replica,
            telemetry,
        )

        # Read-your-writes is per unit of work: each request and each task starts with nothing written.
        request_started.connect(replica.new_unit_of_work, dispatch_uid="bnpl.core.replica.request")
        task_prerun.connect(replica.new_unit_of_work, dispatch_uid="bnpl.core.replica.task")

        telemetry.start()  # Sentry and OpenTelemetry, each only when its setting is given
