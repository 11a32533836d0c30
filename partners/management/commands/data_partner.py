"""Onboard data partners and manage their keys from the command line (as the admin does):

    manage.py data_partner create "Acme Open Banking" --description "Open-banking aggregator"
    manage.py data_partner issue-key dpa_… [--live] [--name production]   # prints the key, once
    manage.py data_partner revoke-key dpkey_…
    manage.py data_partner suspend dpa_…  |  reinstate dpa_…
    manage.py data_partner list

Each change is audited as the operator at the console and evented (``partners.services``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core.context import Actor, acting_as
from bnpl.core.errors import ApplicationError
from partners import services
from partners.models import DataPartner, PartnerApiKey

ACTOR = Actor(kind="operator", identifier="manage.py", label="data_partner")


class Command(BaseCommand):
    help = "Create data partners, suspend or reinstate them, issue and revoke their API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Onboard a data partner")
        create.add_argument("name")
        create.add_argument(
            "--description", default="", help="What consumers see it is, e.g. 'Open-banking aggregator'"
        )
        create.add_argument("--website", default="")
        issue = actions.add_parser("issue-key", help="Issue a key (printed once)")
        issue.add_argument("partner", help="dpa_…")
        issue.add_argument("--live", action="store_true", help="A live-mode key (default: test mode)")
        issue.add_argument("--name", default="")
        revoke = actions.add_parser("revoke-key", help="Revoke a key")
        revoke.add_argument("key", help="dpkey_…")
        for name in ("suspend", "reinstate"):
            actions.add_parser(name, help=f"{name.capitalize()} a partner").add_argument("partner", help="dpa_…")
        actions.add_parser("list", help="Partners and their keys")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with acting_as(ACTOR):
                getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except ApplicationError as error:
            raise CommandError(error.message) from error

    def _partner(self, public_id: str) -> DataPartner:
        partner = DataPartner.objects.filter(public_id=public_id).first()
        if partner is None:
            raise CommandError(f"No data partner {public_id}.")
        return partner

    def _create(self, options: dict[str, Any]) -> None:
        partner = services.data_partner_create(
            name=options["name"], description=options["description"], website=options["website"]
        )
        self.stdout.write(f"{partner.public_id}  {partner.name}")

    def _issue_key(self, options: dict[str, Any]) -> None:
        created = services.partner_api_key_create(
            partner=self._partner(options["partner"]), livemode=options["live"], name=options["name"]
        )
        self.stdout.write(f"{created.api_key.public_id}  {created.token}")
        self.stderr.write("Shown once: give it to the partner over a secure channel; only its hash is kept.")

    def _revoke_key(self, options: dict[str, Any]) -> None:
        api_key = PartnerApiKey.objects.filter(public_id=options["key"]).first()
        if api_key is None:
            raise CommandError(f"No data partner key {options['key']}.")
        services.partner_api_key_revoke(api_key=api_key)
        self.stdout.write(f"{api_key.public_id}  revoked")

    def _suspend(self, options: dict[str, Any]) -> None:
        partner = services.data_partner_suspend(partner=self._partner(options["partner"]))
        self.stdout.write(f"{partner.public_id}  {partner.status}")

    def _reinstate(self, options: dict[str, Any]) -> None:
        partner = services.data_partner_reinstate(partner=self._partner(options["partner"]))
        self.stdout.write(f"{partner.public_id}  {partner.status}")

    def _list(self, options: dict[str, Any]) -> None:
        for partner in DataPartner.objects.prefetch_related("api_keys"):
            self.stdout.write(f"{partner.public_id}  {partner.name}  {partner.status}")
            for api_key in partner.api_keys.all():
                state = "revoked" if api_key.is_revoked else "active"
                self.stdout.write(f"    {api_key.public_id}  {api_key.token_hint}  {state}")
