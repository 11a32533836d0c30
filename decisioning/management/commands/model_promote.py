"""``manage.py model_promote <public_id> --to champion|challenger``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError
from decisioning.models import ModelVersion
from decisioning.registry import model_promote, model_version_get


class Command(BaseCommand):
    help = "Promote a model version to champion or challenger (the holder of that slot is retired)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("public_id", help="the version's id, e.g. mdl_…")
        parser.add_argument(
            "--to", required=True, choices=[ModelVersion.Status.CHAMPION, ModelVersion.Status.CHALLENGER]
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor(kind="operator", identifier="manage.py", label="model_promote")
        try:
            model_version = model_promote(
                model_version=model_version_get(public_id=options["public_id"]), to=options["to"], actor=actor
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"{model_version.public_id}: {model_version}")
