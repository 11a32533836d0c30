from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "bnpl.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        import bnpl.notifications.tasks  # noqa: F401  (registers the task the listener queues by name)
        from bnpl.core import outbox
        from bnpl.notifications import services

        outbox.register_listener(services.on_events_committed, wants=services.NOTIFIED_EVENT_TYPES.__contains__)
