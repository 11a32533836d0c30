"""Access to every dashboard page, walked from ``merchants.urls`` so that a page added later is
covered without editing this file:

* every page but the public ones needs a signed-in member (and declares its access rule);
* an object of another merchant, or of the other mode, is a 404 and nothing is written;
* an analyst gets a 403 on every write (and an admin on every owner-only one), and nothing is written;
* personal pages (a member's own sign-in security) take no object: they can only touch their user;
* list pages of merchant A never show merchant B's objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern

from merchants import onboarding, services
from merchants.models import ApiKey, Membership, Merchant
from merchants.urls import PUBLIC_URL_NAMES, urlpatterns
from merchants.views.base import ANALYST_REFUSAL, LIVEMODE_SESSION_KEY, OWNER_REFUSAL
from tests.bnpl.accounts.factories import make_user
from tests.helpers import row_counts, verified_client
from tests.merchants.factories import Tenant, make_member
from tests.tenancy.owned_objects import OWNED_OBJECT_FACTORIES

PASSWORD = "pw-for-tests-1"


def _api_key(*, merchant: Merchant, livemode: bool) -> Model:
    return services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=livemode).api_key


def _document(*, merchant: Merchant, livemode: bool) -> Model:
    upload = SimpleUploadedFile("certificate.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    return onboarding.document_upload(merchant=merchant, kind="registration", uploaded=upload, uploaded_by=None)


def _bank_account(*, merchant: Merchant, livemode: bool) -> Model:
    return onboarding.bank_account_add(
        merchant=merchant, holder_name="Shop", routing_number="110000000", account_number="000123456789"
    )


def _invitation(*, merchant: Merchant, livemode: bool) -> Model:
    return services.invitation_create(
        merchant=merchant, email=f"invitee-{merchant.public_id}@example.com", role="admin"
    ).invitation


def _membership(*, merchant: Merchant, livemode: bool) -> Model:
    return services.membership_create(merchant=merchant, user=make_user(), role=Membership.Role.ANALYST)


def _owned(model_name: str) -> Callable[..., Model]:
    from django.apps import apps

    return OWNED_OBJECT_FACTORIES[apps.get_model(model_name)]


# What each path parameter names, and how to make one for a merchant in a mode.
PARAMETER_FACTORIES: dict[str, Callable[..., Model]] = {
    "order_id": _owned("checkout.Order"),
    "settlement_id": _owned("merchants.Settlement"),
    "key_id": _api_key,
    "endpoint_id": _owned("merchants.WebhookEndpoint"),
    "delivery_id": _owned("merchants.WebhookDelivery"),
    "product_id": _owned("plans.PaymentProduct"),
    "document_id": _document,
    "account_id": _bank_account,
    "invitation_id": _invitation,
    "membership_id": _membership,
}
MODELESS_PARAMETERS = {"account_id", "document_id", "invitation_id", "membership_id"}  # the merchant's, in both modes

PAGES = [pattern for pattern in urlpatterns if isinstance(pattern, URLPattern) and pattern.name not in PUBLIC_URL_NAMES]
WRITE_PAGES = [pattern for pattern in PAGES if pattern.callback.dashboard_access in {"write", "owner"}]  # type: ignore[attr-defined]
PERSONAL_PAGES = [pattern for pattern in PAGES if pattern.callback.dashboard_access == "personal"]  # type: ignore[attr-defined]
PERSONAL_READ_PAGES = {"security"}  # the personal pages that are read with a GET
OWNER_PAGES = [pattern for pattern in PAGES if pattern.callback.dashboard_access == "owner"]  # type: ignore[attr-defined]
OBJECT_PAGES = [pattern for pattern in PAGES if pattern.pattern.converters]  # type: ignore[attr-defined]


def _method(pattern: URLPattern) -> str:
    if pattern.callback.dashboard_access == "personal":  # type: ignore[attr-defined]
        return "get" if pattern.name in PERSONAL_READ_PAGES else "post"
    return "get" if pattern.callback.dashboard_access == "read" and pattern.name != "mode" else "post"  # type: ignore[attr-defined]


def _parameters(pattern: URLPattern) -> list[str]:
    return list(pattern.pattern.converters)  # type: ignore[attr-defined]


def _path(pattern: URLPattern, objects: dict[str, Any]) -> str:
    route = str(pattern.pattern)
    for name, instance in objects.items():
        route = route.replace(f"<str:{name}>", instance.public_id)  # type: ignore[attr-defined]
    return f"/merchant/{route}"


def _client(user: Any, *, livemode: bool = False) -> Client:
    client = Client()
    verified_client(user, client=client)
    session = client.session
    session[LIVEMODE_SESSION_KEY] = livemode
    session.save()
    return client


def _call(client: Client, pattern: URLPattern, path: str) -> Any:
    return getattr(client, _method(pattern))(path, {"amount": "1.00", "role": "admin", "email": "x@example.com"})


def _id(pattern: URLPattern) -> str:
    return str(pattern.name)


def test_every_page_declares_its_access_rule_and_every_parameter_has_a_factory() -> None:
    for pattern in PAGES:
        assert getattr(pattern.callback, "dashboard_access", None) in {"read", "write", "owner", "personal"}, (
            pattern.name
        )
        for name in _parameters(pattern):
            assert name in PARAMETER_FACTORIES, f"{pattern.name}: add a factory for {name}"
    assert len(WRITE_PAGES) >= 20
    assert {str(pattern.name) for pattern in PERSONAL_PAGES} >= PERSONAL_READ_PAGES
    for pattern in PERSONAL_PAGES:
        assert not _parameters(pattern), f"{pattern.name}: a personal page acts on the signed-in user only"


@pytest.mark.parametrize("pattern", PAGES, ids=_id)
def test_a_signed_out_visitor_is_sent_to_sign_in(db: None, pattern: URLPattern) -> None:
    path = _path(pattern, {name: _Stub() for name in _parameters(pattern)})

    response = getattr(Client(), _method(pattern))(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/merchant/login?next=")


class _Stub:
    public_id = "x_000000000000000000000000"


@pytest.mark.parametrize("pattern", OBJECT_PAGES, ids=_id)
def test_another_merchants_object_is_not_found_and_nothing_is_written(
    tenant: Tenant, other_tenant: Tenant, pattern: URLPattern
) -> None:
    owner = make_member(merchant=tenant.merchant)
    theirs = {
        name: PARAMETER_FACTORIES[name](merchant=other_tenant.merchant, livemode=False) for name in _parameters(pattern)
    }
    client = _client(owner)
    before = row_counts()

    response = _call(client, pattern, _path(pattern, theirs))

    assert response.status_code == 404, response.content[:300]
    assert row_counts() == before


@pytest.mark.parametrize("pattern", [p for p in OBJECT_PAGES if not set(_parameters(p)) & MODELESS_PARAMETERS], ids=_id)
def test_an_object_of_the_other_mode_is_not_found(tenant: Tenant, pattern: URLPattern) -> None:
    owner = make_member(merchant=tenant.merchant)
    live_objects = {
        name: PARAMETER_FACTORIES[name](merchant=tenant.merchant, livemode=True) for name in _parameters(pattern)
    }
    client = _client(owner, livemode=False)
    before = row_counts()

    in_test_mode = _call(client, pattern, _path(pattern, live_objects))

    assert in_test_mode.status_code == 404
    assert row_counts() == before


@pytest.mark.parametrize("pattern", [p for p in OBJECT_PAGES if _method(p) == "get"], ids=_id)
def test_a_member_opens_their_own_objects(tenant: Tenant, pattern: URLPattern) -> None:
    analyst = make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST)
    own = {name: PARAMETER_FACTORIES[name](merchant=tenant.merchant, livemode=False) for name in _parameters(pattern)}

    response = _call(_client(analyst), pattern, _path(pattern, own))

    assert response.status_code == 200


@pytest.mark.parametrize("pattern", WRITE_PAGES, ids=_id)
def test_an_analyst_is_refused_every_write_and_nothing_is_written(tenant: Tenant, pattern: URLPattern) -> None:
    analyst = make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST)
    own = {name: PARAMETER_FACTORIES[name](merchant=tenant.merchant, livemode=False) for name in _parameters(pattern)}
    client = _client(analyst)
    before = row_counts()

    response = _call(client, pattern, _path(pattern, own))

    assert response.status_code == 403
    assert response.content.decode() in {ANALYST_REFUSAL, OWNER_REFUSAL}
    assert row_counts() == before


@pytest.mark.parametrize("pattern", OWNER_PAGES, ids=_id)
def test_an_admin_is_refused_team_management(tenant: Tenant, pattern: URLPattern) -> None:
    admin_user = make_member(merchant=tenant.merchant, role=Membership.Role.ADMIN)
    own = {name: PARAMETER_FACTORIES[name](merchant=tenant.merchant, livemode=False) for name in _parameters(pattern)}
    client = _client(admin_user)
    before = row_counts()

    response = _call(client, pattern, _path(pattern, own))

    assert response.status_code == 403
    assert response.content.decode() == OWNER_REFUSAL
    assert row_counts() == before


@pytest.mark.parametrize("pattern", WRITE_PAGES, ids=_id)
def test_every_write_needs_a_post(tenant: Tenant, pattern: URLPattern) -> None:
    owner = make_member(merchant=tenant.merchant)
    own = {name: PARAMETER_FACTORIES[name](merchant=tenant.merchant, livemode=False) for name in _parameters(pattern)}
    client = _client(owner)
    before = row_counts()

    response = client.get(_path(pattern, own))

    assert response.status_code == 405
    assert row_counts() == before


def test_list_pages_show_only_the_members_own_merchant(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = [
        PARAMETER_FACTORIES[name](merchant=other_tenant.merchant, livemode=False)
        for name in (
            "order_id",
            "settlement_id",
            "endpoint_id",
            "key_id",
            "invitation_id",
            "membership_id",
            "document_id",
        )
    ]
    ours = PARAMETER_FACTORIES["order_id"](merchant=tenant.merchant, livemode=False)
    client = _client(make_member(merchant=tenant.merchant))
    pages = [p for p in PAGES if not _parameters(p) and _method(p) == "get"]

    contents = {str(p.name): client.get(_path(p, {})).content.decode() for p in pages}

    assert {name for name in contents} >= {
        "dashboard",
        "orders",
        "settlements",
        "developers",
        "settings",
        "team",
        "onboarding",
    }
    for name, content in contents.items():
        assert other_tenant.merchant.name not in content, name
        for instance in theirs:
            assert instance.public_id not in content, (name, instance)  # type: ignore[attr-defined]
    assert ours.public_id in contents["orders"]  # type: ignore[attr-defined]
    assert ours.public_id in contents["orders-export"]  # type: ignore[attr-defined]


def test_a_member_of_two_merchants_switches_between_them_but_not_into_a_third(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    from tests.merchants.factories import make_merchant

    user = make_member(merchant=tenant.merchant)
    services.membership_create(merchant=other_tenant.merchant, user=user, role=Membership.Role.ANALYST)
    stranger = make_merchant(name="Merchant C")
    client = _client(user)

    first = client.get("/merchant/")
    switched = client.get(f"/merchant/?merchant={other_tenant.merchant.public_id}")
    refused = client.get(f"/merchant/orders?merchant={stranger.public_id}")

    assert first.context["merchant"] == tenant.merchant
    assert switched.context["merchant"] == other_tenant.merchant
    assert refused.context["merchant"] == other_tenant.merchant  # stays on the last one of their own
    assert "Merchant C" not in refused.content.decode()
