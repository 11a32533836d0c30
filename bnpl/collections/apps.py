from django.apps import AppConfig


class CollectionsConfig(AppConfig):
    name = "bnpl.collections"
    label = "collections"
    verbose_name = "Collections"
