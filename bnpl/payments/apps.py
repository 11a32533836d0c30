from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "bnpl.payments"
    label = "payments"
    verbose_name = "Payments"
