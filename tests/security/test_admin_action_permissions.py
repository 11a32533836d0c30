"""Finding: admin actions ran for any staff user who could see the list.

Django offers a ModelAdmin's actions to everyone with the view permission unless each action names
the permission it needs; ours named none, so an operator allowed only to *view* merchants could
select one and run "Approve" — opening live mode for an unvetted merchant — or revoke API keys,
promote credit models, and so on. Now every action that changes state needs the change permission
(or a permission of its own), and this test walks the admin registry with a view-only operator, so
an action added later without a permission fails here."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from bnpl.core.models import AuditLogEntry, Event
from merchants.models import Merchant
from tests.bnpl.accounts.factories import make_user
from tests.helpers import row_counts, verified_client
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db

# Actions that only read (an export, say) may be open to viewers; list them here on purpose, with
# why. None yet: every action we have changes something.
READ_ONLY_ACTIONS: set[tuple[str, str]] = set()


def _view_only_operator() -> Any:
    """Staff with every view permission and nothing else: the operator this finding is about."""
    operator = make_user(email="viewer@lender.example", is_staff=True)
    operator.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    return type(operator).objects.get(pk=operator.pk)  # a fresh copy: no cached permissions


def _registered() -> list[tuple[str, admin.ModelAdmin]]:  # type: ignore[type-arg]
    return [(model._meta.label_lower, model_admin) for model, model_admin in admin.site._registry.items()]


def _actions_of(model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:  # type: ignore[type-arg]
    """Every action the ModelAdmin declares (and the site-wide ones), whoever asks."""
    named = [
        (action, getattr(model_admin, action)) if isinstance(action, str) else (action.__name__, action)
        for action in model_admin.actions or []
    ]
    site_wide = list(model_admin.admin_site.actions)
    return [*named, *site_wide]


def test_every_action_in_the_admin_names_the_permission_it_needs() -> None:
    missing = [
        f"{label}: {name}"
        for label, model_admin in _registered()
        for name, function in _actions_of(model_admin)
        if not getattr(function, "allowed_permissions", ()) and (label, name) not in READ_ONLY_ACTIONS
    ]

    assert missing == []


def test_a_view_only_operator_is_offered_no_action_anywhere() -> None:
    viewer = _view_only_operator()
    request = RequestFactory().get("/admin/")
    request.user = viewer
    offered = {}

    for label, model_admin in _registered():
        assert model_admin.has_view_permission(request), label  # the walk is not vacuous
        actions = set(model_admin.get_actions(request)) - {
            name for (model, name) in READ_ONLY_ACTIONS if model == label
        }
        if actions:
            offered[label] = sorted(actions)

    assert offered == {}
    assert sum(len(_actions_of(model_admin)) for _, model_admin in _registered()) >= 10


def test_a_view_only_operator_cannot_run_any_action_by_posting_it() -> None:
    """The changelist refuses an action it does not offer, whatever the form says: posting every
    declared action, with a row of each model selected, changes nothing."""
    viewer = verified_client(_view_only_operator())
    merchant = make_merchant(name="Unvetted Shop", approved=False)
    before = row_counts()

    for label, model_admin in _registered():
        rows = list(model_admin.model._default_manager.values_list("pk", flat=True)[:1]) or [merchant.pk]
        changelist = f"/admin/{label.replace('.', '/')}/"
        for name, _function in _actions_of(model_admin):
            response = viewer.post(changelist, {"action": name, "_selected_action": rows, "post": "yes"})
            assert response.status_code in {200, 302}, (label, name, response.status_code)

    assert row_counts() == before
    assert Merchant.objects.get(pk=merchant.pk).status == Merchant.Status.PENDING


def _approve(client: Any, merchant: Merchant) -> Any:
    return client.post(
        "/admin/merchants/merchant/", {"action": "approve", "_selected_action": [merchant.pk]}, follow=True
    )


def test_an_operator_who_may_only_view_merchants_cannot_approve_one_into_live_mode() -> None:
    viewer = make_user(email="support@lender.example", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_merchant"))
    merchant = make_merchant(name="Unvetted Shop", approved=False)
    client = verified_client(viewer)

    changelist = client.get("/admin/merchants/merchant/")
    response = _approve(client, merchant)

    assert changelist.status_code == 200 and "Unvetted Shop" in changelist.content.decode()
    assert 'value="approve"' not in changelist.content.decode()
    assert response.status_code == 200
    assert Merchant.objects.get(pk=merchant.pk).status == Merchant.Status.PENDING
    assert not AuditLogEntry.objects.filter(action="merchant.approved").exists()
    assert not Event.objects.filter(type="merchant.approved").exists()


def test_an_operator_who_may_change_merchants_approves_one() -> None:
    operator = make_user(email="risk@lender.example", is_staff=True)
    operator.user_permissions.add(*Permission.objects.filter(codename__in=["view_merchant", "change_merchant"]))
    merchant = make_merchant(name="Vetted Shop", approved=False)

    response = _approve(verified_client(operator), merchant)

    assert response.status_code == 200
    assert Merchant.objects.get(pk=merchant.pk).status == Merchant.Status.ACTIVE
    assert AuditLogEntry.objects.filter(action="merchant.approved", actor_identifier=operator.email).count() == 1
