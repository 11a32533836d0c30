"""The whole checkout through the real doors: the merchant's API, the shopper's hosted pages (with
a one-time code from the sandbox inbox), then capture, refund, and a balanced ledger."""

from __future__ import annotations

import html
import re
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from bnpl.checkout.models import CheckoutSession, Order
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Installment
from consumers.models import SandboxMessage
from merchants.services import merchant_suspend
from tests.bnpl.checkout.factories import IDENTITY_FORM, make_checkout_session
from tests.conftest import ApiClient
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

SESSION = {
    "amount": 12000,
    "currency": "USD",
    "line_items": [
        {"name": "Trail shoes", "quantity": 1, "unit_amount": 9000},
        {"name": "Socks", "quantity": 2, "unit_amount": 1500},
    ],
    "return_url": "https://shop.example.com/thanks?cart=7",
    "cancel_url": "https://shop.example.com/cart",
    "merchant_reference": "1001",
    "customer_email": "ada@example.com",
}


def _sign_in(shopper: Client, next_path: str, email: str, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    with django_capture_on_commit_callbacks(execute=True):
        shopper.post(f"/account/sign-in?next={next_path}", {"identifier": email})
    shopper.get(f"/account/sign-in?next={next_path}")
    code = re.search(r"code is (\d{6})", SandboxMessage.objects.filter(destination=email).latest("id").body)
    assert code
    response = shopper.post("/account/verify", {"code": code.group(1)})
    assert response.status_code == 302


def _start(api: ApiClient, shopper: Client, django_capture_on_commit_callbacks, **overrides: object) -> dict:  # type: ignore[no-untyped-def, type-arg]
    created = api.post("/api/v1/checkout/sessions", {**SESSION, **overrides})
    assert created.status_code == 201, created.content
    session = created.json()
    path = urlsplit(session["url"]).path
    page = shopper.get(path)
    assert page.status_code == 200 and b"Sign in to pay later" in page.content
    shopper.get(f"/account/sign-in?next={path}")
    _sign_in(shopper, path, "ada@example.com", django_capture_on_commit_callbacks)
    assert shopper.get(path)["Location"] == f"{path}/identity"
    assert shopper.post(f"{path}/identity", IDENTITY_FORM).status_code == 302
    return session


def _pay_in_4_product(shopper: Client, path: str) -> str:
    page = shopper.get(path).content.decode()
    pay_in_4 = re.search(
        r'value="(prod_\w+)" data-today="Pay \$30.00 today"[^>]*>\s*<span class="option-text">\s*'
        r'<strong class="option-name">Pay in 4</strong>\s*<span class="option-today">\$30.00 today</span>',
        page,
    )
    assert pay_in_4, page
    return pay_in_4.group(1)


def test_a_shopper_pays_later_and_the_merchant_captures_and_refunds(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(api, shopper, django_capture_on_commit_callbacks)
    path = urlsplit(session["url"]).path
    assert "Annual percentage rate (APR)" in shopper.get(path).content.decode()  # financing carries its TILA box

    confirmed = shopper.post(
        f"{path}/confirm",
        {
            "product": _pay_in_4_product(shopper, path),
            "card_number": "4242 4242 4242 4242",
            "exp_month": "12",
            "exp_year": "2035",
            "cvc": "123",
        },
    )

    assert (confirmed.status_code, confirmed["Location"]) == (302, f"{path}/approved")
    approval = shopper.get(confirmed["Location"]).content.decode()
    assert "You're approved" in approval and "We took $30.00 today from visa •••• 4242" in approval
    assert Client().get(confirmed["Location"]).status_code == 404  # only the shopper who was approved sees it
    target = urlsplit(html.unescape(re.search(r'id="continue" href="([^"]+)"', approval).group(1)))  # type: ignore[union-attr]
    assert (target.netloc, target.path) == ("shop.example.com", "/thanks")
    query = parse_qs(target.query)
    assert query["cart"] == ["7"] and query["checkout_session"] == [session["id"]]
    order_id = query["order"][0]

    order = api.get(f"/api/v1/orders/{order_id}").json()
    assert (order["status"], order["authorized_amount"], order["captured_amount"]) == ("authorized", 12000, 0)
    plan = api.get(f"/api/v1/plans/{order['plan']}").json()
    assert [row["amount"] for row in plan["installments"]] == [3000, 3000, 3000, 3000]
    assert [row["status"] for row in plan["installments"]] == ["paid", "scheduled", "scheduled", "scheduled"]
    assert Charge.objects.get(kind="payment").amount == 3000

    assert api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 9000}).status_code == 201
    assert api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 3000}).status_code == 201
    over = api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 1})
    assert over.status_code == 409 and over.json()["error"]["code"] == "amount_exceeds_open"

    with django_capture_on_commit_callbacks(execute=True):
        refund = api.post(f"/api/v1/orders/{order_id}/refunds", {"amount": 3000, "reason": "returned socks"})
    assert refund.status_code == 201
    assert refund.json()["applied_to_plan_amount"] == 3000 and refund.json()["returned_to_card_amount"] == 0
    plan = api.get(f"/api/v1/plans/{order['plan']}").json()
    assert [row["amount"] for row in plan["installments"] if row["status"] != "canceled"] == [3000, 3000, 3000]
    assert [entry["action"] for entry in plan["history"]] == ["plan.created", "plan.reduced"]

    with django_capture_on_commit_callbacks(execute=True):
        rest = api.post(f"/api/v1/orders/{order_id}/refunds", {"amount": 9000})
    assert rest.json()["returned_to_card_amount"] == 3000  # the first payment goes back to the card
    assert Order.objects.get(public_id=order_id).status == Order.Status.REFUNDED
    assert Charge.objects.get(kind="refund").status == Charge.Status.SUCCEEDED
    assert not Installment.objects.filter(status=Installment.Status.SCHEDULED).exists()

    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert "Ledger OK" in out.getvalue()
    merchant = tenant.merchant
    for code in (AccountCode.CONSUMER_RECEIVABLE, AccountCode.AUTHORIZED_PENDING):
        assert (
            account_balance(
                code=code,
                currency="USD",
                livemode=False,
                merchant=merchant if code == AccountCode.AUTHORIZED_PENDING else None,
                consumer=order_consumer(order_id) if code == AccountCode.CONSUMER_RECEIVABLE else None,
            )
            == 0
        )


def order_consumer(order_id: str):  # type: ignore[no-untyped-def]
    return Order.objects.get(public_id=order_id).consumer


def test_a_declined_card_keeps_the_session_open_and_says_why(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(api, shopper, django_capture_on_commit_callbacks)
    path = urlsplit(session["url"]).path
    product = _pay_in_4_product(shopper, path)

    response = shopper.post(
        f"{path}/confirm",
        {"product": product, "card_number": "4000 0000 0000 0002", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
    )

    assert response.status_code == 402
    assert "The card was declined." in response.content.decode()
    assert not Order.objects.exists()
    assert CheckoutSession.objects.get(public_id=session["id"]).status == CheckoutSession.Status.OPEN


def test_a_decline_shows_its_principal_reasons_before_any_card_is_asked_for(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    # Changed on purpose (issue 17 item 1): the decision comes right after identity, so a shopper
    # over their limit sees the decline and its reasons instead of offers and a card form.
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(
        api,
        shopper,
        django_capture_on_commit_callbacks,
        amount=300000,
        line_items=[{"name": "Bike", "quantity": 1, "unit_amount": 300000}],
    )
    path = urlsplit(session["url"]).path

    page = shopper.get(path)

    body = page.content.decode()
    assert page.status_code == 200
    assert "We can't offer pay later for this order" in body
    assert "This purchase would take you over your spending limit." in body
    assert 'name="product"' not in body and 'name="card_number"' not in body  # no offers, no card
    assert CheckoutSession.objects.get(public_id=session["id"]).status == CheckoutSession.Status.DECLINED
    assert not Charge.objects.exists() and not Order.objects.exists()
    assert not PaymentMethod.objects.exists()


def test_a_declined_shopper_returns_to_the_cancel_url_with_the_session_id(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(
        api,
        shopper,
        django_capture_on_commit_callbacks,
        amount=300000,
        line_items=[{"name": "Bike", "quantity": 1, "unit_amount": 300000}],
        cancel_url="https://shop.example.com/cart?step=pay&note=a%20b#summary",
    )
    path = urlsplit(session["url"]).path

    declined = shopper.get(path)
    again = shopper.get(path)  # the page of a declined checkout, visited again: the decline, not the offers
    posted = shopper.post(  # a confirm sent anyway (an old tab) changes nothing
        f"{path}/confirm",
        {"product": "prod_x", "card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035"},
    )

    assert CheckoutSession.objects.get(public_id=session["id"]).status == CheckoutSession.Status.DECLINED
    back = f"https://shop.example.com/cart?step=pay&note=a%20b&checkout_session={session['id']}#summary"
    for page in (declined, again, posted):
        body = page.content.decode()
        link = re.search(r'<a class="button[^"]*" href="([^"]+)">Return to Merchant A</a>', body)
        assert link and html.unescape(link.group(1)) == back
        assert "This purchase would take you over your spending limit." in body
        assert 'name="product"' not in body
    assert not PaymentMethod.objects.exists() and not Charge.objects.exists()
    # A stranger opening the declined session's link learns nothing of the shopper's reasons.
    stranger = Client().get(path).content.decode()
    assert "spending limit" not in stranger and "This checkout was declined." in stranger


def test_a_declined_card_is_caught_even_when_nothing_is_due_today(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(api, shopper, django_capture_on_commit_callbacks, product_kinds=["pay_in_30"])
    path = urlsplit(session["url"]).path
    product = re.findall(r'name="product" value="(prod_\w+)"', shopper.get(path).content.decode())
    assert len(product) == 1

    response = shopper.post(
        f"{path}/confirm",
        {
            "product": product[0],
            "card_number": "4000 0000 0000 0002",
            "exp_month": "12",
            "exp_year": "2035",
            "cvc": "123",
        },
    )

    assert response.status_code == 402
    assert not Order.objects.exists() and not Charge.objects.exists()


def test_cancel_returns_to_the_shop(tenant: Tenant) -> None:
    session = ApiClient(tenant.test_key).post("/api/v1/checkout/sessions", SESSION).json()
    response = Client().post(urlsplit(session["url"]).path + "/cancel")
    assert response.status_code == 302
    assert response["Location"] == f"https://shop.example.com/cart?checkout_session={session['id']}"
    assert CheckoutSession.objects.get(public_id=session["id"]).status == CheckoutSession.Status.CANCELED


def test_cancel_keeps_the_shops_query_and_names_the_session_once(tenant: Tenant) -> None:
    cancel_url = "https://shop.example.com/cart?checkout_session={CHECKOUT_SESSION_ID}&step=pay#summary"
    session = ApiClient(tenant.test_key).post("/api/v1/checkout/sessions", {**SESSION, "cancel_url": cancel_url})

    response = Client().post(urlsplit(session.json()["url"]).path + "/cancel")

    assert response.status_code == 302
    assert (
        response["Location"]
        == f"https://shop.example.com/cart?step=pay&checkout_session={session.json()['id']}#summary"
    )


def test_the_portal_shows_the_plan_and_pays_the_next_installment(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(api, shopper, django_capture_on_commit_callbacks)
    path = urlsplit(session["url"]).path
    shopper.post(
        f"{path}/confirm",
        {
            "product": _pay_in_4_product(shopper, path),
            "card_number": "4242424242424242",
            "exp_month": "12",
            "exp_year": "2035",
            "cvc": "123",
        },
    )
    plan = Order.objects.get().plan

    portal = shopper.get("/account/").content.decode()
    paid = shopper.post(f"/account/plans/{plan.public_id}/pay", follow=True)
    other = shopper.post("/account/plans/pln_000000000000000000000000/pay")

    assert f'action="/account/plans/{plan.public_id}/pay"' in portal and "Pay $30.00 now" in portal
    assert "Paid $30.00. Thank you!" in paid.content.decode()
    assert list(plan.installments.order_by("sequence").values_list("status", flat=True)) == [
        "paid",
        "paid",
        "scheduled",
        "scheduled",
    ]
    assert other.status_code == 404


def test_each_offer_states_its_late_fee_with_this_orders_cap_and_its_refund_rule(tenant: Tenant) -> None:
    from consumers.selectors import SESSION_KEY
    from tests.bnpl.checkout.factories import make_checkout_session
    from tests.consumers.factories import make_verified_consumer

    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    shopper = Client()
    cookie = shopper.session
    cookie[SESSION_KEY] = make_verified_consumer().public_id
    cookie.save()

    page = shopper.get(f"/checkout/{session.public_id}").content.decode()

    fee = "Late fee: $10.00 if a payment is still unpaid 10 days after it is due, never more than $25.00 in all."
    assert page.count(fee) == 2  # pay in 4 and pay in 30 (25% of $100.00, under the $68.00 cap)
    assert "No late fees." in page  # the financing product charges none
    assert page.count("the refund comes off your last payments first") == 3


def test_the_sign_in_pages_of_a_checkout_can_cancel_back_to_the_shop(tenant: Tenant) -> None:
    from tests.bnpl.checkout.factories import make_checkout_session

    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    shopper = Client()
    page = shopper.get("/account/sign-in", {"next": f"/checkout/{session.public_id}"}).content.decode()
    assert f'action="/checkout/{session.public_id}/cancel"' in page
    assert "Cancel and return to Merchant A" in page
    assert "Cancel and return" not in Client().get("/account/sign-in").content.decode()  # not signing in for a shop

    canceled = shopper.post(f"/checkout/{session.public_id}/cancel")

    assert canceled["Location"].startswith("https://shop.example.com/cart")
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSession.Status.CANCELED


def test_a_suspended_shop_cannot_take_pay_later(tenant: Tenant) -> None:
    from django.test import Client

    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    merchant_suspend(merchant=tenant.merchant)

    page = Client().get(f"/checkout/{session.public_id}")

    assert page.status_code == 409
    assert "This shop cannot take pay-later payments right now." in page.content.decode()
