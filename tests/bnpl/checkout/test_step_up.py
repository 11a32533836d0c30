"""The saved-card step-up at the hosted checkout, as the shopper meets it: the note before, the
code asked for with the chosen offer and card kept, asking again (throttled like every code), and
the page never trusting a card id that is not the shopper's. The attack itself is in
tests/security/test_saved_card_step_up.py."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.checkout.models import CheckoutCardClearance, CheckoutSession, Order
from bnpl.core.models import AuditLogEntry
from bnpl.payments.models import PaymentMethod
from consumers.models import Consumer, SandboxMessage
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.helpers import consumer_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(FROZEN, tick=False) as frozen:
        yield frozen


@pytest.fixture
def shopper(other_tenant: Tenant) -> tuple[Consumer, Client, PaymentMethod]:
    """Bought once at the other merchant, so a card is saved; never bought at ``tenant``."""
    consumer = make_verified_consumer(email="ada@example.com")
    order = make_authorized_order(merchant=other_tenant.merchant, livemode=False, consumer=consumer)
    return consumer, consumer_client(consumer), PaymentMethod.objects.get(consumer=order.consumer)


def _confirm(client: Client, session: CheckoutSession, tenant: Tenant, **fields: str) -> Any:
    product = product_for(tenant.merchant, False).public_id
    return client.post(f"/checkout/{session.public_id}/confirm", {"product": product, **fields})


def _codes(address: str) -> list[str]:
    return [
        re.search(r"code is (\d{6})", body).group(1)  # type: ignore[union-attr]
        for body in SandboxMessage.objects.filter(destination=address).order_by("id").values_list("body", flat=True)
    ]


def test_the_page_says_beforehand_that_a_saved_card_needs_a_code_at_a_new_shop(
    tenant: Tenant, other_tenant: Tenant, shopper: tuple[Consumer, Client, PaymentMethod]
) -> None:
    _, client, _ = shopper
    new_shop = make_checkout_session(merchant=tenant.merchant, livemode=False)
    known_shop = make_checkout_session(merchant=other_tenant.merchant, livemode=False)

    assert 'id="saved-card-note"' in client.get(f"/checkout/{new_shop.public_id}").content.decode()
    assert 'id="saved-card-note"' not in client.get(f"/checkout/{known_shop.public_id}").content.decode()


def test_the_code_is_asked_for_with_the_chosen_offer_and_card_kept(
    tenant: Tenant, shopper: tuple[Consumer, Client, PaymentMethod], django_capture_on_commit_callbacks: Any
) -> None:
    _, client, card = shopper
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    chosen = product_for(tenant.merchant, False, kind="pay_in_30")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/checkout/{session.public_id}/confirm", {"product": chosen.public_id, "payment_method": card.public_id}
        )

    page = response.content.decode()
    assert response.status_code == 403
    assert re.search(rf'value="{chosen.public_id}"[^>]* checked', page)
    assert re.search(rf'value="{card.public_id}" checked', page)
    expected = f"We sent a code to a•••@example.com. Enter it to pay {tenant.merchant.name} with {card}, or type"
    assert expected in page
    assert len(_codes("ada@example.com")) == 1
    assert not CheckoutCardClearance.objects.filter(checkout_session=session).exists()


def test_asking_again_too_soon_says_when_and_later_a_new_code_replaces_the_old(
    tenant: Tenant,
    shopper: tuple[Consumer, Client, PaymentMethod],
    traveller: time_machine.Traveller,
    django_capture_on_commit_callbacks: Any,
) -> None:
    _, client, card = shopper
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    with django_capture_on_commit_callbacks(execute=True):
        _confirm(client, session, tenant, payment_method=card.public_id)
    product = product_for(tenant.merchant, False).public_id
    resend = f"/checkout/{session.public_id}/step-up-code"

    too_soon = client.post(resend, {"product": product, "payment_method": card.public_id})

    assert "A code was just sent. You can ask for another in 60 seconds." in too_soon.content.decode()
    assert len(_codes("ada@example.com")) == 1
    traveller.shift(dt.timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(resend, {"product": product, "payment_method": card.public_id})
    assert "We sent a new code to a•••@example.com." in again.content.decode()
    first, second = _codes("ada@example.com")
    assert _confirm(client, session, tenant, payment_method=card.public_id, step_up_code=first).status_code == 400
    assert _confirm(client, session, tenant, payment_method=card.public_id, step_up_code=second).status_code == 302
    clearance = CheckoutCardClearance.objects.get(checkout_session=session)
    assert (clearance.payment_method, clearance.via) == (card, "one_time_code")
    assert AuditLogEntry.objects.filter(action="checkout_session.card_cleared", object_id=session.public_id).exists()


def test_another_consumers_card_is_never_stepped_up_nor_used(
    tenant: Tenant, shopper: tuple[Consumer, Client, PaymentMethod]
) -> None:
    _, _, card = shopper
    stranger = consumer_client(make_verified_consumer(email="eve@example.com"))
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    product = product_for(tenant.merchant, False).public_id

    confirmed = stranger.post(
        f"/checkout/{session.public_id}/confirm", {"product": product, "payment_method": card.public_id}
    )
    resent = stranger.post(
        f"/checkout/{session.public_id}/step-up-code", {"product": product, "payment_method": card.public_id}
    )

    assert (confirmed.status_code, resent.status_code) == (400, 400)
    assert "Choose one of your saved cards." in confirmed.content.decode()
    assert not SandboxMessage.objects.exists()
    assert not Order.objects.filter(merchant=tenant.merchant).exists()
