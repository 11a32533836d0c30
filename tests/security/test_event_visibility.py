"""Finding: ``GET /api/v1/events/{id}`` returned any event carrying the merchant, while the list shows
only merchant-visible types: an invitation's (with the invitee's email), a credit decision's (why a
shopper was declined, which merchants are never told), collections' and consumers' events could be
read by id.

By id as in the list, a hidden event is a 404 ``resource_missing``; every hidden type is checked.
"""

from __future__ import annotations

from django.db import transaction

from bnpl.core.event_types import EVENT_TYPES, merchant_visible_types
from bnpl.core.models import Event
from bnpl.core.services import event_emit
from merchants import services
from tests.conftest import ApiClient
from tests.merchants.factories import Tenant, make_event


def _listed(api: ApiClient) -> set[str]:
    return {row["id"] for row in api.get("/api/v1/events", {"limit": 100}).json()["results"]}


def test_an_invitations_event_is_not_readable_by_id(tenant: Tenant, api: ApiClient) -> None:
    created = services.invitation_create(merchant=tenant.merchant, email="new.hire@example.com", role="analyst")
    hidden = Event.objects.get(type="invitation.created", object_id=created.invitation.public_id)
    assert hidden.merchant == tenant.merchant and not hidden.livemode
    visible = make_event(merchant=tenant.merchant, livemode=False)

    response = api.get(f"/api/v1/events/{hidden.public_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    assert b"new.hire@example.com" not in response.content
    assert hidden.public_id not in _listed(api)
    assert api.get(f"/api/v1/events/{visible.public_id}").status_code == 200  # the 404 above is not vacuous
    assert visible.public_id in _listed(api)


def test_no_hidden_type_is_readable_by_id(tenant: Tenant, api: ApiClient) -> None:
    hidden_types = sorted(set(EVENT_TYPES) - set(merchant_visible_types()))
    assert len(hidden_types) >= 10
    with transaction.atomic():
        events = {
            name: event_emit(type=name, instance=tenant.merchant, data={"secret": name}, merchant=tenant.merchant)
            for name in hidden_types
        }

    for name, event in events.items():
        response = api.get(f"/api/v1/events/{event.public_id}")
        assert response.status_code == 404, name
    assert not set(events.values()) & {Event.objects.get(public_id=id) for id in _listed(api)}
