"""The operators' admin: the index says what is waiting (with counts and links to the filtered
lists), and every amount reads in its currency, in lists and on detail pages, never in minor units."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from bnpl.checkout.disputes import dispute_contest
from bnpl.core.admin_money import amount_field_names, currency_path
from bnpl.servicing.actions import hardship_request
from decisioning.models import CreditDecision
from merchants import onboarding
from merchants.models import BusinessProfile
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import make_dispute, make_order, make_plan
from tests.consumers.factories import make_verified_consumer
from tests.helpers import verified_client
from tests.merchants.factories import Tenant, make_merchant

pytestmark = pytest.mark.django_db


def _operator(**flags: Any) -> Client:
    client = Client()
    verified_client(make_user(email="ops@lender.example", is_staff=True, **flags), client=client)
    return client


def _waiting(html: str) -> dict[str, tuple[str, str]]:
    """queue -> (link, count) from the index's "Waiting for you" table."""
    rows = re.findall(
        r'<tr data-queue="(\w+)"><th scope="row"><a href="([^"]+)">[^<]+</a></th><td>(.*?)</td></tr>', html
    )
    return {key: (url, re.sub(r"<[^>]+>", "", count)) for key, url, count in rows}


def _referral(tenant: Tenant) -> CreditDecision:
    return CreditDecision.objects.create(
        consumer=make_verified_consumer(),
        merchant=tenant.merchant,
        product_kind="pay_in_4",
        amount=12_000,
        currency="USD",
        outcome=CreditDecision.Outcome.REFERRED,
        reasons=[{"code": "thin_file", "text": "Little credit history on file."}],
        features={"bureau_score": 612, "open_plans": 0, "utilisation": 0.4375, "verified": True},
        policy_version="test",
    )


def test_the_index_counts_what_waits_for_operators_and_links_to_it(tenant: Tenant) -> None:
    client = _operator(is_superuser=True)
    empty = _waiting(client.get("/admin/").content.decode())
    assert {key: count for key, (_, count) in empty.items()} == {
        "applications": "none",
        "referrals": "none",
        "disputes": "none",
        "hardship": "none",
    }

    for name in ("Shop One", "Shop Two"):
        profile = onboarding.business_profile_ensure(merchant=make_merchant(name=name, approved=False))
        BusinessProfile.objects.filter(pk=profile.pk).update(status=BusinessProfile.Status.SUBMITTED)
    _referral(tenant)
    dispute_contest(dispute=make_dispute(merchant=tenant.merchant, livemode=False), evidence="Tracking 1Z999")
    make_dispute(merchant=tenant.merchant, livemode=False)  # still with the merchant: not the operators'
    hardship_request(plan=make_plan(merchant=tenant.merchant, livemode=False), reason="Lost my job")

    waiting = _waiting(client.get("/admin/").content.decode())

    assert {key: count for key, (_, count) in waiting.items()} == {
        "applications": "2",
        "referrals": "1",
        "disputes": "1",
        "hardship": "1",
    }
    assert waiting["applications"][0] == "/admin/merchants/businessprofile/?status__exact=submitted"
    assert waiting["referrals"][0] == "/admin/decisioning/creditdecision/?review=waiting"
    for url, count in waiting.values():
        listed = client.get(url.replace("&amp;", "&"))
        assert listed.status_code == 200
        assert re.search(rf"\b{count} (result|[a-z ]+)", listed.content.decode())


def test_an_operator_sees_only_the_queues_they_may_view(tenant: Tenant) -> None:
    from django.contrib.auth.models import Permission

    user = make_user(email="disputes@lender.example", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_dispute"))
    client = Client()
    verified_client(user, client=client)

    assert set(_waiting(client.get("/admin/").content.decode())) == {"disputes"}


def test_amounts_read_in_their_currency_in_lists_and_detail_pages(tenant: Tenant) -> None:
    order = make_order(merchant=tenant.merchant, livemode=False)  # 100.00 authorized, 50.00 captured
    dispute = make_dispute(merchant=tenant.merchant, livemode=False)  # 10.00, its currency from its order
    client = _operator(is_superuser=True)

    orders = client.get("/admin/checkout/order/").content.decode()
    assert "$100.00" in orders and "$50.00" in orders
    assert not re.search(r">\s*10000\s*<|>\s*5000\s*<|>\s*10,000\s*<", orders)
    detail = client.get(f"/admin/checkout/order/{order.pk}/change/").content.decode()
    assert "$100.00" in detail and not re.search(r'<div class="readonly">\s*10,?000\s*</div>', detail)
    disputes = client.get("/admin/checkout/dispute/").content.decode()
    assert "$10.00" in disputes
    assert "$10.00" in client.get(f"/admin/checkout/dispute/{dispute.pk}/change/").content.decode()
    decision = _referral(tenant)
    assert "$120.00" in client.get(f"/admin/decisioning/creditdecision/{decision.pk}/change/").content.decode()


def test_every_admin_list_formats_its_amounts() -> None:
    """Walked from the registry: an admin added later is covered without editing this test."""
    request = RequestFactory().get("/admin/")
    checked = 0
    for model, model_admin in admin.site._registry.items():
        amounts = set(amount_field_names(model))
        if not amounts:
            continue
        assert currency_path(model) is not None, f"{model._meta.label}: no currency to format its amounts in"
        shown = {name for name in model_admin.get_list_display(request) if isinstance(name, str)}
        assert not shown & amounts, f"{model._meta.label} lists raw amounts: {sorted(shown & amounts)}"
        checked += 1
    assert checked >= 8
