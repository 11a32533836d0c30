from django.apps import AppConfig


class DecisioningConfig(AppConfig):
    """Credit decisions, reached through ``decisioning.decide``: the rules policy, then the champion
    XGBoost model with its spending limits and reasons (see docs/credit-model.md)."""

    name = "decisioning"
    verbose_name = "Credit decisioning"
