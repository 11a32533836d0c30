from django.apps import AppConfig


class CheckoutConfig(AppConfig):
    name = "bnpl.checkout"
    label = "checkout"
    verbose_name = "Checkout and orders"
