"""``manage.py model_rollback --name credit``: bring back the champion the current one displaced."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError
from decisioning.registry import model_rollback


class Command(BaseCommand):
    help = "Retire the champion and re-promote the champion it replaced."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--name", default=settings.CREDIT_MODEL_NAME, help="model name (default: CREDIT_MODEL_NAME)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor(kind="operator", identifier="manage.py", label="model_rollback")
        try:
            champion = model_rollback(name=options["name"], actor=actor)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"{champion.public_id}: {champion} is the champion again")
