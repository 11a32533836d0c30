"""The consumer's documents as PDF (fpdf2): the credit agreement of a plan, with the Truth in
Lending box and the payment schedule as agreed at purchase, and a receipt for each payment.

The agreement is rebuilt from the plan as it was created (its ``plan.created`` audit entry), so later
refunds or fees never rewrite what was signed. Money is printed exactly, with the currency's symbol.

**Fonts.** Names come from people and merchants in any script ("Łukasz Nowak", "Γιώργος
Παπαδόπουλος", "王小明"), so the documents embed Unicode TrueType fonts shipped with the project in
``consumers/fonts/`` (licences beside them): DejaVu Sans (Latin, Greek, Cyrillic, currency symbols),
and Droid Sans Fallback Full for Chinese, Japanese and Korean, loaded only when a text needs it
(parsing its 4 MB costs about 0.3 s). fpdf2 embeds only the glyphs a document uses. A character
neither font has (an emoji) prints as nothing, never an error.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fpdf import FPDF

from bnpl.core.models import AuditLogEntry
from bnpl.core.money import format_amount
from bnpl.payments.models import Charge
from bnpl.plans import schedule as schedules
from bnpl.plans.models import Plan, ProductKind

LENDER = "BNPL Lending (the lender)"
FONT_DIR = Path(__file__).resolve().parent / "fonts"  # not under static/: the PDFs embed them, browsers never ask
FONT = "DejaVuSans"  # regular and bold
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FALLBACK_FONT = "DroidSansFallback"  # Chinese, Japanese, Korean
FALLBACK_FONT_FILE = "DroidSansFallbackFull.ttf"


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def original_schedule(plan: Plan) -> list[schedules.ScheduledPayment]:
    """The payments agreed at purchase (before any refund, due-date move or fee)."""
    created = (
        AuditLogEntry.objects.filter(action="plan.created", object_id=plan.public_id).order_by("id").first()
        if plan.pk
        else None
    )
    rows = (created.after or {}).get("installments", []) if created else []
    if not rows:  # a plan older than its audit trail: its current principal rows
        rows = [
            {
                "due_date": row.due_date.isoformat(),
                "amount": row.principal_amount + row.interest_amount,
                "principal_amount": row.principal_amount,
                "interest_amount": row.interest_amount,
                "fee_amount": row.fee_amount,
            }
            for row in plan.installments.filter(fee_for__isnull=True).order_by("sequence")
        ]
    return [
        schedules.ScheduledPayment(
            due_date=dt.date.fromisoformat(str(row["due_date"])),
            amount=int(row["principal_amount"]) + int(row["interest_amount"]),
            principal=int(row["principal_amount"]),
            interest=int(row["interest_amount"]),
        )
        for row in rows
        if not int(row.get("fee_amount") or 0)
    ]


TEST_MODE_NOTICE = "TEST MODE - no real money moves: this document is a test by the shop and binds no one."


class _Document(FPDF):
    def __init__(self, title: str, *, livemode: bool = True) -> None:
        super().__init__(format="A4")
        for style, file_name in FONT_FILES.items():
            self.add_font(FONT, style, FONT_DIR / file_name)
        self._has_fallback_font = False
        self.set_title(title)
        self.set_creator("BNPL")
        self.set_compression(False)  # plain text streams: small documents, and readable by tests and tools
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()
        self.set_font(FONT, "B", 16)
        self.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
        if not livemode:
            self.set_font(FONT, "B", 11)
            self.multi_cell(0, 6, TEST_MODE_NOTICE, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=10)

    def normalize_text(self, text: str) -> str:
        """fpdf2 passes every text through here before laying it out: the place to load the CJK
        font the first time a text has a character the main font lacks."""
        if not self._has_fallback_font and self.current_font is not None:
            covered = self.current_font.cmap  # type: ignore[union-attr]
            if any(ord(character) not in covered for character in text):
                self.add_font(FALLBACK_FONT, "", FONT_DIR / FALLBACK_FONT_FILE)
                self.set_fallback_fonts([FALLBACK_FONT], exact_match=False)  # bold text falls back to regular
                self._has_fallback_font = True
        return super().normalize_text(text)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.set_font(FONT, "B", 12)
        self.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, size=10)

    def pairs(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.set_font(FONT, "B", 10)
            self.cell(60, 6, label)
            self.set_font(FONT, size=10)
            self.multi_cell(0, 6, value, align="L", new_x="LMARGIN", new_y="NEXT")  # names: never stretched

    def paragraph(self, text: str) -> None:
        self.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        self.ln(1)

    def output_bytes(self) -> bytes:
        return bytes(self.output())


def credit_agreement_pdf(plan: Plan) -> bytes:
    order, product, currency = plan.order, plan.product, plan.currency
    agreed = original_schedule(plan)
    start = plan.created_at.date()
    disclosure = (
        plan.disclosure  # as the shopper saw it at checkout, kept on the plan
        or schedules.tila_disclosure(
            schedule=agreed, amount_financed=sum(row.principal for row in agreed), advance_date=start
        ).terms
    )
    identity = getattr(plan.consumer, "identity", None)
    pdf = _Document("Credit agreement", livemode=plan.livemode)
    pdf.pairs(
        [
            ("Agreement", plan.public_id),
            ("Date", start.isoformat()),
            ("Lender", LENDER),
            ("Borrower", identity.legal_name if identity else plan.consumer.public_id),
            ("Purchase", f"{plan.merchant.name}, order {order.public_id}"),
            ("Plan", product.name),
        ]
    )
    pdf.heading("Truth in Lending disclosure")
    pdf.pairs(
        [
            ("Annual percentage rate", f"{disclosure.apr_text}%"),
            ("Finance charge", money(disclosure.finance_charge, currency)),
            ("Amount financed", money(disclosure.amount_financed, currency)),
            ("Total of payments", money(disclosure.total_of_payments, currency)),
        ]
    )
    pdf.heading("Payment schedule")
    for number, row in enumerate(agreed, start=1):
        when = "at purchase" if row.due_date <= start else row.due_date.isoformat()
        interest = f" (of which interest {money(row.interest, currency)})" if row.interest else ""
        pdf.cell(0, 6, f"{number}. {when}: {money(row.amount, currency)}{interest}", new_x="LMARGIN", new_y="NEXT")
    pdf.heading("Terms")
    if product.late_fee_amount:
        pdf.paragraph(
            f"Late payments: a fee of {money(product.late_fee_amount, currency)} for a payment still unpaid "
            f"{product.late_fee_grace_days} days after its due date, never more in total than "
            f"{product.late_fee_cap_bps / 100:g}% of the order"
            + (f" or {money(product.late_fee_cap_amount, currency)}" if product.late_fee_cap_amount else "")
            + ", whichever is smaller."
        )
    else:
        pdf.paragraph("Late payments: no late fees are charged on this plan.")
    refund_rule = (
        "spread evenly over the payments still to make"
        if plan.refund_policy == "even_spread"
        else "taken off the last payments first"
    )
    pdf.paragraph(
        f"Refunds: a refund from the merchant is {refund_rule}; "
        "anything already paid beyond what is owed goes back to your card."
    )
    if product.kind == ProductKind.FINANCING:
        pdf.paragraph("Paying early: pay off at any time and owe only the interest earned to that day.")
    else:
        pdf.paragraph("Paying early: you may pay any amount early at no cost; it goes to your next payments.")
    pdf.paragraph(
        "Returns and disputes: while a return or dispute you report is open, the last payments covering the "
        "amount in question are on hold (not collected, no late fee); keep paying the others. If it is resolved, "
        "held payments move on by the days it was open; if you withdraw it, they keep their original dates."
    )
    return pdf.output_bytes()


def receipt_pdf(charge: Charge) -> bytes:
    plan = charge.plan
    pdf = _Document(
        "Payment receipt" if charge.kind == Charge.Kind.PAYMENT else "Refund receipt", livemode=charge.livemode
    )
    rows = [
        ("Receipt", charge.public_id),
        ("Date", charge.created_at.date().isoformat()),
        ("Amount", money(charge.amount, charge.currency)),
        ("Card", f"{charge.payment_method.brand} ending {charge.payment_method.last4}"),  # the PDF font is Latin-1
    ]
    if plan is not None:
        rows += [("Plan", plan.public_id), ("Merchant", plan.merchant.name)]
    pdf.pairs(rows)
    pdf.paragraph("Thank you. Keep this receipt for your records.")
    return pdf.output_bytes()
