"""Security review, issue 13 item 9: a name crashed a page (denial of service).

The documents used the PDF core fonts, which know Latin-1 only: a consumer called "Łukasz Nowak"
got a 500 for their credit agreement, and so would anyone buying from a merchant with a Greek or
Chinese name. The documents now embed Unicode fonts shipped in ``consumers/fonts/``."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.core.errors import InvalidRequestError
from bnpl.payments.models import Charge
from bnpl.plans.models import Plan
from consumers.models import Consumer, Identity
from consumers.services import identity_submit
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_consumer
from tests.helpers import consumer_client, pdf_text
from tests.merchants.factories import make_tenant

pytestmark = pytest.mark.django_db

NAMES = [
    ("Łukasz Nowak", "Księgarnia Żółć Łódź"),
    ("Γιώργος Παπαδόπουλος", "Βιβλιοπωλείο Αθηνά"),
    ("王小明", "北京书店"),
]


def _consumer(legal_name: str) -> Consumer:
    consumer = make_consumer()
    _identity(consumer, legal_name)
    return consumer


def _identity(consumer: Consumer, legal_name: str) -> None:
    identity_submit(
        consumer=consumer,
        legal_name=legal_name,
        date_of_birth=dt.date(1990, 5, 17),
        address_line1="ul. Piotrkowska 1",
        city="Łódź",
        postal_code="90-001",
        country="PL",
        national_id_last4="1234",
    )


def _signed_in(consumer: Consumer) -> Client:
    # a crash is a 500 here, as the consumer sees it
    return consumer_client(consumer, client=Client(raise_request_exception=False))  # type: ignore[no-any-return]


def _plan(consumer_name: str, merchant_name: str) -> Plan:
    tenant = make_tenant(name=merchant_name)
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=_consumer(consumer_name))
    checkout_orders.order_capture(order=order, amount=order.authorized_amount)
    return Plan.objects.get(order=order)


@pytest.mark.parametrize(("consumer_name", "merchant_name"), NAMES)
def test_the_credit_agreement_prints_any_script(consumer_name: str, merchant_name: str) -> None:
    plan = _plan(consumer_name, merchant_name)

    response = _signed_in(plan.consumer).get(f"/account/plans/{plan.public_id}/agreement.pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert f"Borrower {consumer_name}" in text
    assert f"Purchase {merchant_name}, order {plan.order.public_id}" in text


@pytest.mark.parametrize(("consumer_name", "merchant_name"), NAMES)
def test_receipts_print_any_script(consumer_name: str, merchant_name: str) -> None:
    plan = _plan(consumer_name, merchant_name)
    payment = Charge.objects.get(plan=plan, kind=Charge.Kind.PAYMENT)  # the first installment, at purchase

    response = _signed_in(plan.consumer).get(f"/account/receipts/{payment.public_id}.pdf")

    assert response.status_code == 200
    text = pdf_text(response.content)
    assert f"Merchant {merchant_name}" in text and f"Receipt {payment.public_id}" in text


def test_characters_no_font_has_print_as_nothing_not_a_crash() -> None:
    plan = _plan("Zoë O'Brien-Ñúñez", "Shop 😀 \u202eevil\u202c ☃ \U0001d518\U0001d52b")

    response = _signed_in(plan.consumer).get(f"/account/plans/{plan.public_id}/agreement.pdf")

    assert response.status_code == 200
    assert "Borrower Zoë O'Brien-Ñúñez" in pdf_text(response.content)


@pytest.mark.parametrize(
    ("legal_name", "accepted"),
    [
        ("王小明", True),
        ("김민수", True),
        ("やまだ たろう", True),
        ("Łukasz Nowak", True),
        ("王", False),
        ("Madonna", False),
    ],
)
def test_names_written_without_a_space_are_full_names(legal_name: str, accepted: bool) -> None:
    consumer = make_consumer()
    try:
        _identity(consumer, legal_name)
    except InvalidRequestError as error:
        assert (accepted, error.param) == (False, "legal_name")
    else:
        assert accepted and Identity.objects.get(consumer=consumer).legal_name == legal_name
