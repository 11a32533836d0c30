from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"
    verbose_name = "Merchants"

    def ready(self) -> None:
        from bnpl.core import outbox
        from merchants import webhooks

        outbox.register_listener(webhooks.on_events_committed)
