from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "bnpl.ledger"
    label = "ledger"
    verbose_name = "Ledger"
