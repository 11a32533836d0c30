from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "bnpl.api"
    label = "api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        from bnpl.api import schema  # noqa: F401  (registers the authentication scheme with drf-spectacular)
