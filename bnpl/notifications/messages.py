"""Messages rendered from templates (``templates/emails/<name>.txt`` and ``.html``, both from one
context), with a one-line text for SMS. Amounts arrive formatted in their currency
(``bnpl.core.money.format_amount``) and dates as words: a template never sees minor units, a card
number or a secret."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string

from bnpl.core.links import public_url
from bnpl.core.money import format_amount

PLATFORM_NAME = "BNPL"


@dataclass(frozen=True)
class Message:
    subject: str
    text: str  # the email's plain-text part
    html: str  # the email's HTML part
    sms: str  # what a text message says (short, no HTML)


def render(template: str, *, subject: str, sms: str, context: dict[str, Any]) -> Message:
    """Both parts of ``emails/<template>`` from one context, with the layout's shared values."""
    full = {"subject": subject, "platform_name": PLATFORM_NAME, "account_url": public_url("/account/"), **context}
    return Message(
        subject=subject,
        text=render_to_string(f"emails/{template}.txt", full).strip() + "\n",
        html=render_to_string(f"emails/{template}.html", full),
        sms=sms,
    )


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def long_date(day: dt.date) -> str:
    return f"{day:%A, %-d %B %Y}"


def medium_date(day: dt.date) -> str:
    """For tables (a schedule): one line even on a phone."""
    return f"{day:%a, %-d %b %Y}"
