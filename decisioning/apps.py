from django.apps import AppConfig


class DecisioningConfig(AppConfig):
    """Credit decisions, reached only through ``decisioning.decide``: today the rules policy; the
    XGBoost model's training and registry are here, not yet consulted by ``decide``."""

    name = "decisioning"
    verbose_name = "Credit decisioning"

    def ready(self) -> None:
        from decisioning import registry  # noqa: F401  (registers the model_version.* event types)
