from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "bnpl.payments"
    label = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from bnpl.payments.checks import live_parts_verify, mode_parts_verify

        mode_parts_verify()  # every process refuses to start when a live credential would serve test mode
        live_parts_verify()  # and, outside the sandbox, when live mode is not served by real parts
