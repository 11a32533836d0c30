"""Seed the demo: an operator, an approved merchant with a team and a test API key, a consumer, a
data partner with a test key (consumers grant it consent in their account), and the merchant's
history of about ninety days of orders (``merchants/management/demo_history.py``;
it moves the sandbox clock forward, so only in the sandbox; ``--no-history`` skips it).
Idempotent: running it again keeps what exists and prints the same logins and key.

The operator and the merchant owner must pass a second factor (the demo keeps both requirements
on), so each gets an authenticator here: its key is printed to add to an authenticator app, with
the backup codes still unused (each signs in once, for whoever has no app at hand)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from bnpl.accounts import two_factor
from bnpl.accounts.models import User
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.representations import hosted_url
from bnpl.checkout.sessions import checkout_session_create
from bnpl.core import clock
from bnpl.core.context import Actor, acting_as
from bnpl.tenancy.keys import dangerously_api_key_get_by_token
from consumers.models import Consumer
from consumers.services import consumer_register
from merchants import services
from merchants.management.demo_history import history_seed
from merchants.models import ApiKey, Membership, Merchant
from partners import selectors as partner_selectors
from partners import services as partner_services
from partners.models import DataPartner

OPERATOR = ("operator@bnpl.test", "operator-demo-1")
OWNER = ("owner@demo-outfitters.test", "merchant-demo-1")
ANALYST = ("analyst@demo-outfitters.test", "merchant-demo-1")
# The sandbox bureau reads "+clean" as a spotless credit file, so the demo shopper is approved by the
# model; "+risky" (any address) shows a decline with the model's reasons.
CONSUMER_EMAIL = "shopper+clean@example.com"
MERCHANT_NAME = "Demo Outfitters"
PARTNER_NAME = "Sandbox Open Banking"


class Command(BaseCommand):
    help = "Create (or keep) the demo data and print the logins, the API key and the URLs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="skip the merchant's ninety days of orders (which moves the sandbox clock forward)",
        )

    def handle(self, *args: Any, no_history: bool = False, **options: Any) -> None:
        with acting_as(Actor(kind="system", identifier="seed_demo", label="Demo seed")):
            operator = self._user(*OPERATOR, is_staff=True, is_superuser=True)
            merchant = self._merchant()
            owner = self._member(merchant, *OWNER, role=Membership.Role.OWNER)
            self._member(merchant, *ANALYST, role=Membership.Role.ANALYST)
            operator_key, operator_codes = self._authenticator(operator)
            owner_key, owner_codes = self._authenticator(owner)
            token = self._test_key(merchant)
            publishable = self._publishable_key(merchant)
            partner_token = self._partner_key()
            if not Consumer.objects.filter(email=CONSUMER_EMAIL).exists():
                with transaction.atomic():
                    consumer_register(email=CONSUMER_EMAIL)
            if not no_history and settings.BNPL_SANDBOX:
                started = time.monotonic()
                history = history_seed(merchant=merchant)
                if history is not None:
                    self.stdout.write(
                        f"Seeded {history.days} days of history in {time.monotonic() - started:.0f} s: "
                        f"{history.orders} orders, {history.declined} declined, {history.late_orders} paid with a "
                        f"failing card, {history.disputes} disputes; referral {history.referral}."
                    )
            checkout_url = hosted_url(self._checkout_session(merchant))
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        lines = [
            "",
            "BNPL demo is ready.",
            f"  Merchant dashboard  {base}/merchant/      {OWNER[0]} / {OWNER[1]}",
            f"                      authenticator key {owner_key}",
            f"                      backup codes {' '.join(owner_codes)}",
            f"  Analyst (read-only) {base}/merchant/      {ANALYST[0]} / {ANALYST[1]}",
            f"  Consumer portal     {base}/account/        sign in as {CONSUMER_EMAIL};",
            f"                      the one-time code shows in {base}/sandbox/inbox",
            "                      (sign in as anyone+risky@example.com to see a decline and its reasons)",
            f"  Try a checkout      {checkout_url}",
            "                      (test card 4242 4242 4242 4242, any future expiry, any CVC)",
            f"  API docs            {base}/api/v1/docs     schema: {base}/api/v1/schema",
            f"  Admin (operators)   {base}/admin/         {operator.email} / {OPERATOR[1]}",
            f"                      authenticator key {operator_key}",
            f"                      backup codes {' '.join(operator_codes)}",
            "                      (add a key to an authenticator app as a time-based key, or use a backup code once)",
            f"  Health              {base}/healthz",
            f"  Test secret key     {token}",
            f"  Publishable key     {publishable}",
            f"  Try it: curl -H 'Authorization: Bearer {token}' {base}/api/v1/account",
            f"  Data partner key    {partner_token}   ({PARTNER_NAME}: the shopper grants it consent",
            "                      in the consumer portal's Data sharing page; docs/data-partners.md)",
            f"  Data-partner API    {base}/api/partners/v1/docs",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _checkout_session(self, merchant: Merchant) -> CheckoutSession:
        """An open test-mode session to click through (a new one once the last has expired or closed)."""
        session = CheckoutSession.objects.filter(
            merchant=merchant, livemode=False, status=CheckoutSession.Status.OPEN, expires_at__gt=clock.now()
        ).first()
        if session is not None:
            return session
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        return checkout_session_create(
            merchant=merchant,
            livemode=False,
            amount=12000,
            currency="USD",
            line_items=[
                {"name": "Trail running shoes", "quantity": 1, "unit_amount": 9000},
                {"name": "Merino socks", "quantity": 2, "unit_amount": 1500},
            ],
            return_url=f"{base}/?demo=returned",
            cancel_url=f"{base}/?demo=canceled",
            merchant_reference="DEMO-1001",
            customer_email=CONSUMER_EMAIL,
        )

    def _user(self, email: str, password: str, **flags: Any) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, password, **flags)
        return user

    def _merchant(self) -> Merchant:
        merchant = Merchant.objects.filter(name=MERCHANT_NAME).first()
        if merchant is None:
            merchant = services.merchant_create(
                name=MERCHANT_NAME,
                currencies=["USD", "EUR"],
                website="https://demo-outfitters.test",
                support_email="help@demo-outfitters.test",
            )
        if merchant.status == Merchant.Status.PENDING:
            merchant = services.merchant_approve(merchant=merchant)
        return merchant

    def _member(self, merchant: Merchant, email: str, password: str, *, role: str) -> User:
        user = self._user(email, password)
        if not Membership.objects.filter(merchant=merchant, user=user).exists():
            services.membership_create(merchant=merchant, user=user, role=role)
        return user

    def _authenticator(self, user: User) -> tuple[str, list[str]]:
        """The user's authenticator key and unused backup codes: the same key on every run (a new
        one only if the person removed theirs), fresh backup codes once all were used."""
        device = two_factor.authenticator_for(user)
        codes = two_factor.backup_codes_for(user)
        if device is None or not codes:
            device, codes = two_factor.authenticator_issue(user=user)
        return two_factor.authenticator_setup(device).manual_key.replace(" ", ""), codes

    def _test_key(self, merchant: Merchant) -> str:
        """Secret keys are shown once; the demo keeps its own copy under var/ to print it again."""
        saved = Path(settings.VAR_DIR) / "demo_api_key.txt"
        if saved.exists():
            token = saved.read_text().strip()
            api_key = dangerously_api_key_get_by_token(token=token)
            if api_key is not None and api_key.merchant_id == merchant.pk and not api_key.is_revoked:
                return token
        created = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=False, name="Demo")
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(created.token)
        saved.chmod(0o600)
        return created.token

    def _publishable_key(self, merchant: Merchant) -> str:
        existing = ApiKey.objects.filter(
            merchant=merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False, revoked_at__isnull=True
        ).first()
        if existing is not None:
            return existing.publishable_token
        return services.api_key_create(
            merchant=merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False, name="Demo"
        ).token

    def _partner_key(self) -> str:
        """The demo's data partner and a test key for it, kept under var/ as the merchant's is."""
        partner = DataPartner.objects.filter(name=PARTNER_NAME).first()
        if partner is None:
            partner = partner_services.data_partner_create(name=PARTNER_NAME, description="Open-banking aggregator")
        saved = Path(settings.VAR_DIR) / "demo_partner_key.txt"
        if saved.exists():
            token = saved.read_text().strip()
            api_key = partner_selectors.dangerously_partner_api_key_get(token=token)
            if api_key is not None and api_key.partner_id == partner.pk and not api_key.is_revoked:
                return token
        created = partner_services.partner_api_key_create(partner=partner, livemode=False, name="Demo")
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(created.token)
        saved.chmod(0o600)
        return created.token
