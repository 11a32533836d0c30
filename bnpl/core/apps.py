from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "bnpl.core"
    label = "core"
    verbose_name = "Core"
