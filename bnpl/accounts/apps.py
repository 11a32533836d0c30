from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bnpl.accounts"
    label = "accounts"
    verbose_name = "Staff and merchant users"
