from django.apps import AppConfig


class DecisioningConfig(AppConfig):
    """Credit decisions: reached only through ``decisioning.decide`` (the checkout issue adds the
    rules policy, the model issue the XGBoost scorer). Nothing lives here yet."""

    name = "decisioning"
    verbose_name = "Credit decisioning"
