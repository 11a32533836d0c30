from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "bnpl.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from bnpl.core import checks  # noqa: F401  (registers the deployment checks)
