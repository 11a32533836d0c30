from django.apps import AppConfig


class LakeConfig(AppConfig):
    name = "bnpl.lake"
    label = "lake"
    verbose_name = "Data lake"
