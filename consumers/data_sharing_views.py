"""Bank-data sharing in the portal (``/account/data-sharing``): every consent a shop recorded to share
the consumer's bank data with us, and the choices that are the consumer's alone: use it for all their
decisions or only at that shop, revoke it, grant it again. And the consents only the consumer makes:
to a named data partner (``partners.DataPartner``, an open-banking aggregator), to share their bank
transactions for their pay-later decisions until a date they choose; they revoke it (deleting what
was shared) or grant it again here.

Consents are looked up through the signed-in consumer (``account_views.account_page``), so another's
is a 404. Each choice calls the consent service in ``decisioning.bank_data`` and says what happened."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError
from consumers import selectors
from consumers.account_views import account_action, account_consumer, account_page
from decisioning import bank_data
from decisioning.models import BankDataConsent
from partners import selectors as partner_selectors

PARTNER_CONSENT_DAYS = bank_data.PARTNER_CONSENT_DAYS


@require_GET
@account_page
def data_sharing(request: HttpRequest) -> HttpResponse:
    """Every consent to share the consumer's bank data: who shares it, what, since when, until when,
    and for which decisions; with the choices that are theirs alone."""
    consumer = account_consumer(request)
    consents = list(selectors.bank_data_consent_list(consumer=consumer))
    shared = bank_data.consent_sharing_summaries(consents=consents)
    rows = [{"consent": consent, "shared": shared[consent.pk]} for consent in consents]
    return render(
        request,
        "consumers/account/data_sharing.html",
        {
            "section": "data-sharing",
            "consumer": consumer,
            "rows": rows,
            "all_decisions": BankDataConsent.Scope.ALL_DECISIONS,
            "partners": list(partner_selectors.data_partner_list_grantable()),
            "partner_consent_days": PARTNER_CONSENT_DAYS,
        },
    )


def _consent_action(request: HttpRequest, consent_id: str, action: Callable[[BankDataConsent], str]) -> HttpResponse:
    consent = selectors.bank_data_consent_get(consumer=account_consumer(request), public_id=consent_id)
    if consent is None:
        raise Http404
    return account_action(request, lambda: action(consent), back=reverse("consumers:data-sharing"))


@require_POST
@account_page
def data_sharing_scope(request: HttpRequest, consent_id: str) -> HttpResponse:
    def choose(consent: BankDataConsent) -> str:
        scope = request.POST.get("scope", "")
        bank_data.consent_scope_set(consent=consent, scope=scope)
        if scope == BankDataConsent.Scope.ALL_DECISIONS:
            return f"Done: what {consent.source.name} shares may now help any pay-later decision about you."
        return f"Done: what {consent.source.name} shares is used only when you buy from {consent.source.name}."

    return _consent_action(request, consent_id, choose)


@require_POST
@account_page
def data_sharing_revoke(request: HttpRequest, consent_id: str) -> HttpResponse:
    def revoke(consent: BankDataConsent) -> str:
        bank_data.consent_revoke(consent=consent, revoked_by=BankDataConsent.RevokedBy.CONSUMER)
        return f"Revoked: {consent.source.name} can no longer share your bank data, and what it shared is deleted."

    return _consent_action(request, consent_id, revoke)


@require_POST
@account_page
def data_sharing_grant(request: HttpRequest, consent_id: str) -> HttpResponse:
    def grant(consent: BankDataConsent) -> str:
        bank_data.consent_grant_again(consent=consent)
        return f"Granted: {consent.source.name} may share your bank data again, for its own decisions."

    return _consent_action(request, consent_id, grant)


@require_POST
@account_page
def data_sharing_partner_grant(request: HttpRequest) -> HttpResponse:
    """Grant (or renew) a data partner consent to share the consumer's bank transactions for their
    pay-later decisions, for one of ``PARTNER_CONSENT_DAYS``, in live mode or (``mode=test``) test mode."""
    consumer = account_consumer(request)

    def grant() -> str:
        partner = partner_selectors.data_partner_get_grantable(public_id=request.POST.get("partner", ""))
        if partner is None:
            raise InvalidRequestError("Choose a data partner.", code="partner_invalid", param="partner")
        days = request.POST.get("days", "")
        if days not in {str(choice) for choice in PARTNER_CONSENT_DAYS}:
            raise InvalidRequestError("Choose how long it may share.", code="days_invalid", param="days")
        consent = bank_data.partner_consent_grant(
            consumer=consumer,
            partner=partner,
            livemode=request.POST.get("mode") != "test",
            expires_at=clock.now() + dt.timedelta(days=int(days)),
        )
        assert consent.expires_at is not None
        return (
            f"Granted: {partner.name} may share your bank transactions with us for your pay-later decisions "
            f"until {consent.expires_at:%-d %b %Y}."
        )

    return account_action(request, grant, back=reverse("consumers:data-sharing"))
