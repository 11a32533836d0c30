from django.apps import AppConfig


class PlansConfig(AppConfig):
    name = "bnpl.plans"
    label = "plans"
    verbose_name = "Payment products and plans"
