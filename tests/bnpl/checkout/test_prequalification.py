"""Decide before the choice (issue 17 items 1 and 3): right after sign-in and identity the hosted
checkout decides every option for the shopper and shows only what is approved (with the limit), a
counteroffer plainly, or the decline with its reasons -- before any card is asked for. The same
decision then governs the confirm. And cards that do not trap: a declined card is not saved nor
chosen again, errors sit next to the field at fault with what was typed kept, and a second submit
makes no second order or charge."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from bnpl.checkout.models import CheckoutSession, Order, Prequalification
from bnpl.core.models import AuditLogEntry
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import PaymentProduct, ProductKind
from consumers.models import Consumer
from consumers.selectors import SESSION_KEY
from decisioning.models import CreditDecision, ModelVersion
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.decisioning.conftest import champion, credit_model  # noqa: F401  (the model that decides)
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

GOOD_CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


def _shopper(consumer: Consumer) -> Client:
    """A browser signed in as ``consumer`` (the sign-in pages have their own tests)."""
    client = Client()
    cookie = client.session
    cookie[SESSION_KEY] = consumer.public_id
    cookie.save()
    return client


def _offered(page: str) -> list[str]:
    return re.findall(r'name="product" value="(prod_\w+)"', page)


def _asks_for_a_card(page: str) -> bool:
    return 'name="card_number"' in page or 'name="payment_method"' in page


def test_a_risky_shopper_sees_the_decline_before_any_card_and_again_when_coming_back(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    consumer = make_verified_consumer(email="bo+risky@example.com")
    shopper = _shopper(consumer)

    first = shopper.get(f"/checkout/{session.public_id}").content.decode()
    decided = CreditDecision.objects.filter(checkout_session=session).count()
    again = shopper.get(f"/checkout/{session.public_id}").content.decode()

    for page in (first, again):
        assert "We can't offer pay later for this order" in page
        assert re.search(r'<ul id="decline-reasons"><li>[^<]+</li>', page)
        assert not _offered(page) and not _asks_for_a_card(page)
    session.refresh_from_db()
    assert session.status == CheckoutSession.Status.DECLINED
    assert decided > 1 and decided == Prequalification.objects.filter(checkout_session=session).count()  # each option
    assert CreditDecision.objects.filter(checkout_session=session).count() == decided  # not decided again
    assert not PaymentMethod.objects.filter(consumer=consumer).exists()
    assert AuditLogEntry.objects.filter(action="checkout_session.declined", object_id=session.public_id).count() == 1


def test_a_thin_file_shopper_never_sees_offers_or_the_card_form(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    shopper = _shopper(make_verified_consumer(email="cy+thin@example.com"))

    page = shopper.get(f"/checkout/{session.public_id}").content.decode()

    assert not _offered(page) and not _asks_for_a_card(page)
    session.refresh_from_db()
    assert session.status in (CheckoutSession.Status.DECLINED, CheckoutSession.Status.IN_REVIEW)


def test_an_approved_shopper_sees_only_the_approved_options_with_the_limit_and_that_decision_governs(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
) -> None:
    strict = product_for(tenant.merchant, False, ProductKind.PAY_IN_30)
    strict.credit_cutoff_probability = 0.000001  # nobody passes this product's cutoff
    strict.save()
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    consumer = make_verified_consumer(email="di+clean@example.com")
    shopper = _shopper(consumer)

    page = shopper.get(f"/checkout/{session.public_id}").content.decode()

    offered = _offered(page)
    pay_in_4 = product_for(tenant.merchant, False)
    assert pay_in_4.public_id in offered and strict.public_id not in offered
    assert re.search(r'id="prequalified-limit">You\'re approved to spend up to <strong>\$[\d,]+\.\d\d</strong>', page)
    assert _asks_for_a_card(page)
    decisions = CreditDecision.objects.filter(checkout_session=session).count()
    assert Prequalification.objects.filter(checkout_session=session, consumer=consumer).count() == decisions

    refused = shopper.post(f"/checkout/{session.public_id}/confirm", {"product": strict.public_id, **GOOD_CARD})
    assert refused.status_code == 400 and "Choose one of the payment options shown." in refused.content.decode()
    assert not PaymentMethod.objects.filter(consumer=consumer).exists()  # refused before any card was saved

    confirmed = shopper.post(f"/checkout/{session.public_id}/confirm", {"product": pay_in_4.public_id, **GOOD_CARD})
    assert confirmed.status_code == 302
    assert Order.objects.filter(checkout_session=session).exists()
    # The prequalification's decision governed the confirm: no second decision was made.
    assert CreditDecision.objects.filter(checkout_session=session).count() == decisions


def test_a_counteroffer_is_shown_plainly_before_the_card_and_confirmed_on_the_same_decision(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
) -> None:
    product = product_for(tenant.merchant, False)
    PaymentProduct.objects.filter(merchant=tenant.merchant, livemode=False).exclude(pk=product.pk).update(
        is_enabled=False
    )
    product.spending_limit_amount = 6_000  # the clean shopper's limit: 6,000 of the 10,000 asked
    product.save()
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    shopper = _shopper(make_verified_consumer(email="ed+clean@example.com"))

    page = shopper.get(f"/checkout/{session.public_id}").content.decode()

    assert "Approved for $60.00: $40.00 more today as a down payment" in page
    down = re.search(rf'name="accept_down_payment_{product.public_id}" value="(\d+)"', page)
    assert down and down.group(1) == "4000"
    assert re.search(r'id="confirm-button">Pay \$55\.00 today</button>', page)  # 40.00 + a quarter of 60.00
    confirmed = shopper.post(
        f"/checkout/{session.public_id}/confirm",
        {"product": product.public_id, f"accept_down_payment_{product.public_id}": down.group(1), **GOOD_CARD},
    )
    assert confirmed.status_code == 302, confirmed.content.decode()[:2000]
    assert Charge.objects.get(kind="payment", status="succeeded").amount == 5_500
    assert CreditDecision.objects.filter(checkout_session=session).count() == 1


def test_nothing_due_today_says_so_never_zero_dollars(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    pay_in_30 = product_for(tenant.merchant, False, ProductKind.PAY_IN_30)
    shopper = _shopper(make_verified_consumer())

    page = shopper.get(f"/checkout/{session.public_id}").content.decode()

    assert f'value="{pay_in_30.public_id}" data-today="Nothing to pay today"' in page
    assert "$0.00 today" not in page
    assert 'aria-current="step"' in page and "Credit agreement" in page


# --- Cards that do not trap ---------------------------------------------------------------------


def test_a_declined_card_is_not_saved_nor_chosen_and_its_error_sits_by_the_field_with_the_input_kept(
    tenant: Tenant,
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    consumer = make_verified_consumer()
    shopper = _shopper(consumer)
    product = product_for(tenant.merchant, False)
    shopper.get(f"/checkout/{session.public_id}")

    response = shopper.post(
        f"/checkout/{session.public_id}/confirm",
        {"product": product.public_id, **GOOD_CARD, "card_number": "4000 0000 0000 0002"},
    )

    page = response.content.decode()
    assert response.status_code == 402
    assert re.search(r'id="card_number"[^>]*value="4000 0000 0000 0002"[^>]*aria-invalid="true"', page)
    assert re.search(r'<p class="field-error" id="card_number-error" role="alert">The card was declined.</p>', page)
    assert 'value="12"' in page and 'value="2035"' in page and 'value="123"' not in page  # never the code
    assert not PaymentMethod.objects.filter(consumer=consumer).exists()
    assert not Charge.objects.exists()
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSession.Status.OPEN


def test_a_card_with_no_funds_is_not_chosen_again_the_new_card_is(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    consumer = make_verified_consumer()
    shopper = _shopper(consumer)
    product = product_for(tenant.merchant, False)

    response = shopper.post(
        f"/checkout/{session.public_id}/confirm",
        {"product": product.public_id, **GOOD_CARD, "card_number": "4000 0000 0000 9995"},
    )

    page = response.content.decode()
    assert response.status_code == 402
    assert re.search(r'id="card_number-error" role="alert">[^<]+</p>', page)
    assert re.search(r'name="payment_method" value="" id="new-card-choice" checked', page)
    assert not re.search(r'name="payment_method" value="pm_\w+" checked', page)


def test_a_bad_expiry_is_named_next_to_its_field_and_the_rest_is_kept(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    shopper = _shopper(make_verified_consumer())
    product = product_for(tenant.merchant, False)

    response = shopper.post(
        f"/checkout/{session.public_id}/confirm", {"product": product.public_id, **GOOD_CARD, "exp_month": "13"}
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="exp_month-error" role="alert">Enter the expiry month as a number (1 to 12).</p>' in page
    assert re.search(r'id="exp_month"[^>]*value="13"[^>]*aria-invalid="true"', page)
    assert 'value="4242 4242 4242 4242"' in page
    assert f'value="{product.public_id}" data-today="Pay $25.00 today" checked' in page


def test_submitting_twice_makes_one_order_and_one_charge(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    shopper = _shopper(make_verified_consumer())
    data: dict[str, Any] = {"product": product_for(tenant.merchant, False).public_id, **GOOD_CARD}

    first = shopper.post(f"/checkout/{session.public_id}/confirm", data)
    second = shopper.post(f"/checkout/{session.public_id}/confirm", data)

    assert first.status_code == 302 and second.status_code in (302, 409)
    assert Order.objects.filter(checkout_session=session).count() == 1
    assert Charge.objects.filter(kind="payment", status="succeeded").count() == 1
