from django.apps import AppConfig


class MerchantsConfig(AppConfig):
    name = "merchants"
    verbose_name = "Merchants"

    def ready(self) -> None:
        import merchants.tasks  # noqa: F401  (registers the tasks merchants.webhooks queues by name)
        from bnpl.core import outbox
        from merchants import webhooks

        outbox.register_listener(
            webhooks.on_events_committed, wants=webhooks.may_want, wants_owner=webhooks.endpoints_may_want
        )
