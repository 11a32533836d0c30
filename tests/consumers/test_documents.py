"""The PDF documents' fonts: every currency's amount prints, and the 4 MB CJK font is loaded (and
embedded) only in documents that need it."""

from __future__ import annotations

import pytest
from fontTools.ttLib import TTFont

from bnpl.core.money import CURRENCY_CODES
from bnpl.plans.models import Plan
from consumers import documents
from consumers.models import Identity
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import pdf_text
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def test_every_currency_prints_with_the_embedded_font() -> None:
    covered = set(TTFont(documents.FONT_DIR / documents.FONT_FILES[""]).getBestCmap())

    printed = {code: documents.money(123_456, code) for code in CURRENCY_CODES}
    missing = {code: text for code, text in printed.items() if not all(ord(char) in covered for char in text)}

    assert missing == {}


def test_the_cjk_font_is_embedded_only_where_a_text_needs_it(tenant: Tenant) -> None:
    plan = Plan.objects.get(order=make_authorized_order(merchant=tenant.merchant, livemode=False))
    latin = documents.credit_agreement_pdf(plan)
    Identity.objects.filter(consumer=plan.consumer).update(legal_name="王小明")
    chinese = documents.credit_agreement_pdf(Plan.objects.get(pk=plan.pk))

    assert b"DroidSansFallback" not in latin and b"DejaVuSans" in latin
    assert b"DroidSansFallback" in chinese and "Borrower 王小明" in pdf_text(chinese)
    assert len(chinese) < 60_000  # only the glyphs used are embedded, not the 4 MB font
