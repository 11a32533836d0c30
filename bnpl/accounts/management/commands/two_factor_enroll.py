"""Give a person a confirmed authenticator: ``manage.py two_factor_enroll ops@lender.example``.

How an operator gets their second factor (operators cannot reach any admin page without one): an
administrator with shell access runs this and hands the key to the operator in person or over a
channel they trust. It prints the otpauth:// URI (and its QR code in the terminal), the key to type
by hand and ten single-use backup codes. Any earlier authenticator and backup codes of the person
stop working. Audited (``two_factor.enrolled``) as this command. Merchant users enroll themselves
in the dashboard (Sign-in security); this works for them too (e.g. after a lost phone)."""

from __future__ import annotations

import io
from typing import Any

import segno
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.accounts import two_factor
from bnpl.accounts.models import User
from bnpl.core.context import Actor, acting_as


class Command(BaseCommand):
    help = "Give a staff or merchant user a new authenticator (prints its key and backup codes once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--no-qr", action="store_true", help="do not draw the QR code in the terminal")

    def handle(self, *args: Any, email: str, no_qr: bool, **options: Any) -> None:
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user with the email {email}.")
        with acting_as(Actor(kind="operator", identifier="manage.py", label="two_factor_enroll")):
            device, codes = two_factor.authenticator_issue(user=user)
        setup = two_factor.authenticator_setup(device)
        self.stdout.write(describe(email=user.email, setup=setup, backup_codes=codes, qr=not no_qr))


def describe(*, email: str, setup: two_factor.AuthenticatorSetup, backup_codes: list[str], qr: bool) -> str:
    """The printout of a new authenticator (shared with the demo's seed)."""
    lines = [
        f"Authenticator for {email}",
        f"  key (time-based, 6 digits, 30 s): {setup.manual_key}",
        f"  otpauth URI: {setup.otpauth_uri}",
        f"  backup codes (each works once): {' '.join(backup_codes)}",
    ]
    if qr:
        drawing = io.StringIO()
        segno.make(setup.otpauth_uri, error="m").terminal(out=drawing, compact=True)
        lines.append(drawing.getvalue())
    return "\n".join(lines) + "\n"
