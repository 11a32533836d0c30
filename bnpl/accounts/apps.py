from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "bnpl.accounts"
    label = "accounts"
    verbose_name = "Staff and merchant users"

    def ready(self) -> None:
        from bnpl.accounts import backends  # noqa: F401  (connects the sign-in failure counter)
