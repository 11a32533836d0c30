"""``manage.py erase_consumer <con_…> --operator NAME``: erase a consumer's personal data, keep the books."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError
from consumers.erasure import consumer_erase
from consumers.models import Consumer


class Command(BaseCommand):
    help = (
        "Erase a consumer's personal data (email, phone, identity, sessions, messages; their mentions in "
        "free text and the logs) while plans, charges, the ledger, audit rows and events stay. Refused while "
        "they owe money or a dispute is open. Irreversible."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("public_id", help="the consumer's id, e.g. con_…")
        parser.add_argument(
            "--operator", required=True, help="who asked for it (your staff email or id): recorded in the audit log"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        consumer = Consumer.objects.filter(public_id=options["public_id"]).first()
        if consumer is None:
            raise CommandError(f"No consumer {options['public_id']}.")
        actor = Actor(kind="operator", identifier=options["operator"], label="manage.py erase_consumer")
        try:
            erasure = consumer_erase(consumer=consumer, actor=actor)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"{consumer.public_id}: personal data erased ({erasure.sessions} sessions signed out, "
            f"{erasure.messages} messages and codes deleted, {erasure.audit_rows} audit rows and "
            f"{erasure.events} events redacted). The books are intact."
        )
