from __future__ import annotations

from django.apps import apps

# Tables that change as a side effect of merely being called (not writes a request makes).
IGNORED_MODELS = {"sessions.session", "merchants.apikey"}


def row_counts() -> dict[str, int]:
    """Rows in every table the project owns: compare before and after to prove nothing was written.
    (API keys are ignored because authentication stamps ``last_used_at``, which adds no row.)"""
    return {
        model._meta.label_lower: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.label_lower not in IGNORED_MODELS and not model._meta.proxy
    }


def ledger_ok() -> bool:
    """``manage.py ledger_verify`` passes: every journal entry balances."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ledger_verify", stdout=out)
    return "Ledger OK" in out.getvalue()


def pdf_text(content: bytes) -> str:
    """The text of a PDF as a reader extracts it (pypdf), pages joined by newlines."""
    from io import BytesIO

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
