"""The hosted checkout: where a merchant sends a shopper to pay later.

/checkout/<session>            the cart, sign-in prompt, offers with exact schedules, card, confirm
/checkout/<session>/identity   KYC basics, once per consumer
/checkout/<session>/confirm    POST: decide, take today's payment, authorize, return to the shop
/checkout/<session>/step-up-code  POST: send a fresh code for a saved card new to this shop
/checkout/<session>/cancel     POST: back to the shop

Every page of a test-mode session says so (``test_mode``: the banner in base.html), and only the
cards of the session's mode are offered, saved or accepted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from django import forms
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout import step_up
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.selectors import checkout_session_offers
from bnpl.checkout.step_up import STEP_UP_PARAM, StepUpRequiredError
from bnpl.collections.lateness import late_fee_cap
from bnpl.core import clock
from bnpl.core.errors import ApplicationError, InvalidRequestError
from bnpl.core.ids import is_well_formed
from bnpl.core.money import format_amount
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.selectors import payment_method_default, payment_method_get, payment_method_list
from bnpl.payments.services import browser_card_form
from bnpl.plans import services as plan_services
from bnpl.plans.models import PaymentProduct
from consumers import services as consumer_services
from consumers.models import Consumer, Identity
from consumers.services import Destination
from consumers.views import code_requester
from merchants import selectors as merchant_selectors


class IdentityForm(forms.Form):
    legal_name = forms.CharField(label="Full legal name", max_length=200)
    date_of_birth = forms.DateField(label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}))
    address_line1 = forms.CharField(label="Address", max_length=200)
    address_line2 = forms.CharField(label="Apartment, suite (optional)", max_length=200, required=False)
    city = forms.CharField(max_length=100)
    region = forms.CharField(label="State / region", max_length=100, required=False)
    postal_code = forms.CharField(label="Postal code", max_length=20)
    country = forms.CharField(max_length=2, min_length=2, initial="US")
    national_id_last4 = forms.CharField(label="Last 4 digits of your SSN or national id", min_length=4, max_length=4)


class ConfirmForm(forms.Form):
    product = forms.CharField(max_length=40)
    payment_method = forms.CharField(max_length=40, required=False)  # a saved card's id, or blank for a new card
    setup_intent = forms.CharField(max_length=100, required=False)  # a card saved in the browser (Stripe Elements)
    card_number = forms.CharField(max_length=23, required=False)
    exp_month = forms.IntegerField(min_value=1, max_value=12, required=False)
    exp_year = forms.IntegerField(min_value=2000, max_value=2100, required=False)
    cvc = forms.CharField(max_length=4, required=False)
    accept_down_payment = forms.IntegerField(min_value=0, required=False)  # accepting a counteroffer
    step_up_code = forms.CharField(max_length=10, required=False)  # a saved card new to this shop


def _session_or_404(session_id: str) -> CheckoutSession:
    if not is_well_formed(session_id):
        raise Http404
    session = CheckoutSession.objects.select_related("merchant").filter(public_id=session_id).first()
    if session is None:
        raise Http404
    return session


def _render(
    request: HttpRequest, template: str, session: CheckoutSession, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """A hosted page of ``session``: marked as test mode when the session is, and with the way back
    to the shop (``back_url``) for pages that offer it."""
    return render(
        request,
        template,
        {"session": session, "test_mode": not session.livemode, "back_url": back_to_shop_url(session), **context},
        status=status,
    )


def _with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query: the merchant's own parameters are kept as they were
    written, in their order; one of ours that the URL already names is replaced, not repeated."""
    parts = urlsplit(url)
    kept = [part for part in parts.query.split("&") if part and unquote_plus(part.partition("=")[0]) not in params]
    query = "&".join([*kept, urlencode(params)])
    return urlunsplit(parts._replace(query=query))


def back_to_shop_url(session: CheckoutSession) -> str:
    """Where a shopper who does not buy goes back to: the session's ``cancel_url`` with the session's id
    added as ``checkout_session`` (the parameter ``return_url`` gets on approval), so the shop knows
    which checkout came back (declined, canceled, in review or closed) and can look it up."""
    return _with_query(session.cancel_url, checkout_session=session.public_id)


def _offer_rows(offer: plan_services.Offer, currency: str) -> dict[str, Any]:
    return {
        "offer": offer,
        "product": offer.product,
        "payments": [
            {
                "due_date": payment.due_date,
                "amount": format_amount(payment.amount, currency),
                "today": payment.due_date <= clock.today(),
            }
            for payment in offer.schedule
        ],
        "due_today": format_amount(offer.due_today_amount, currency),
        "monthly": format_amount(  # the level payment (the last one may differ by a few cents)
            next((payment.amount for payment in offer.schedule if payment.due_date > clock.today()), 0), currency
        ),
        "total": format_amount(offer.total_amount, currency),
        "finance_charge": format_amount(offer.disclosure.finance_charge, currency),
        "amount_financed": format_amount(offer.disclosure.amount_financed, currency),
        "total_of_payments": format_amount(offer.disclosure.total_of_payments, currency),
        "apr": offer.disclosure.terms.apr_text,  # the API's disclosure.annual_percentage_rate, to the character
        "is_financing": offer.product.kind == "financing",
        "late_fee": _late_fee_terms(offer.product, sum(payment.principal for payment in offer.schedule), currency),
    }


def _late_fee_terms(product: PaymentProduct, amount: int, currency: str) -> str:
    """The late-fee rule in a sentence, with this order's cap worked out."""
    if not product.late_fee_amount:
        return "No late fees."
    cap = late_fee_cap(order_amount=amount, cap_bps=product.late_fee_cap_bps, cap_amount=product.late_fee_cap_amount)
    return (
        f"Late fee: {format_amount(product.late_fee_amount, currency)} if a payment is still unpaid "
        f"{product.late_fee_grace_days} days after it is due, never more than {format_amount(cap, currency)} in all."
    )


def _page(request: HttpRequest, session: CheckoutSession, *, status: int = 200, **context: Any) -> HttpResponse:
    consumer: Consumer | None = getattr(request, "consumer", None)
    offers = checkout_session_offers(session)
    base = {
        "session": session,
        "merchant": session.merchant,
        "consumer": consumer,
        "amount": format_amount(session.amount, session.currency),
        "items": [
            {**item, "total": format_amount(item["total_amount"], session.currency)} for item in session.line_items
        ],
        "offers": [_offer_rows(offer, session.currency) for offer in offers],
        "cards": payment_method_list(consumer=consumer, livemode=session.livemode) if consumer else [],
        "saved_cards_need_code": consumer is not None
        and not step_up.consumer_has_bought_here(session=session, consumer=consumer),
        "sign_in_url": f"{reverse('consumers:sign-in')}?{urlencode({'next': request.path})}",
        "card_form": (
            browser_card_form(consumer=consumer, livemode=session.livemode, purpose=session.public_id)
            if consumer
            else None
        ),
        "branding": merchant_selectors.branding_get(merchant=session.merchant),  # logo and colours, if set
    }
    return _render(request, "checkout/session.html", session, {**base, **context}, status=status)


def _closed(request: HttpRequest, session: CheckoutSession, error: ApplicationError) -> HttpResponse:
    if session.status == CheckoutSession.Status.IN_REVIEW:
        return _render(request, "checkout/in_review.html", session, {})
    return _render(request, "checkout/closed.html", session, {"message": error.message}, status=409)


@require_http_methods(["GET"])
def checkout_session(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    try:
        checkout_sessions.checkout_session_usable(session)
    except ApplicationError as error:
        return _closed(request, session, error)
    consumer = getattr(request, "consumer", None)  # opening the page tells the merchant nothing about them
    if consumer is not None and not Identity.objects.filter(consumer=consumer, verified_at__isnull=False).exists():
        return redirect("checkout:identity", session_id=session.public_id)
    return _page(request, session)


@require_http_methods(["GET", "POST"])
def identity(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    consumer = getattr(request, "consumer", None)
    if consumer is None:
        return redirect(f"{reverse('consumers:sign-in')}?{urlencode({'next': request.path})}")
    form = IdentityForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consumer_services.identity_submit(consumer=consumer, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(error.param if error.param in form.fields else None, error.message)
        else:
            return redirect("checkout:session", session_id=session.public_id)
    status = 400 if request.method == "POST" else 200
    return _render(request, "checkout/identity.html", session, {"form": form}, status=status)


@require_POST
def confirm(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    consumer = getattr(request, "consumer", None)
    if consumer is None:
        return redirect("checkout:session", session_id=session.public_id)
    form = ConfirmForm(request.POST)
    if not form.is_valid():
        return _page(request, session, status=400, error="Choose a payment option and a card.")
    chosen = {"chosen_product": form.cleaned_data["product"], "chosen_card": form.cleaned_data["payment_method"]}
    payment_method = None
    try:
        checkout_sessions.checkout_session_usable(session)
        product = checkout_confirmation.eligible_product(
            session=session, product_public_id=form.cleaned_data["product"]
        )
        payment_method = _card(session, consumer, form.cleaned_data)
        result = checkout_confirmation.checkout_confirm(
            session=session,
            consumer=consumer,
            product=product,
            payment_method=payment_method,
            accepted_down_payment=form.cleaned_data.get("accept_down_payment") or 0,
            step_up_code=form.cleaned_data.get("step_up_code") or "",
            requester=code_requester(request),
        )
    except StepUpRequiredError:
        assert payment_method is not None
        return _step_up_page(request, session, consumer, payment_method, chosen)
    except ApplicationError as error:
        if error.code.startswith("session_"):
            return _closed(request, session, error)
        if error.param == STEP_UP_PARAM and payment_method is not None:
            return _step_up_page(request, session, consumer, payment_method, chosen, wrong=error.message)
        return _page(request, session, status=400, error=error.message, error_param=error.param, **chosen)
    if result.order is not None:
        return redirect("checkout:approved", session_id=session.public_id)
    if result.decision is not None and result.decision.referred:
        return _render(request, "checkout/in_review.html", session, {})
    if result.payment_error:
        return _page(request, session, status=402, error=result.payment_error, error_param="card_number")
    assert result.decision is not None
    if result.counteroffer is not None:
        down_payment = result.decision.down_payment_amount
        return _render(
            request,
            "checkout/counteroffer.html",
            session,
            {
                "row": _offer_rows(result.counteroffer, session.currency),
                "amount": format_amount(session.amount, session.currency),
                "approved": format_amount(session.amount - down_payment, session.currency),
                "down_payment": format_amount(down_payment, session.currency),
                "down_payment_amount": down_payment,
                "payment_method": payment_method.public_id,
                "reasons": result.decision.reasons,
            },
        )
    return _render(request, "checkout/declined.html", session, {"reasons": result.decision.reasons})


def _saved_card(consumer: Consumer, session: CheckoutSession, chosen: str) -> PaymentMethod:
    """A saved card of the consumer's in the session's mode (a card of the other mode is not found)."""
    card = payment_method_get(consumer=consumer, livemode=session.livemode, public_id=chosen)
    if card is None:
        raise InvalidRequestError("Choose one of your saved cards.", param="payment_method")
    return card


def _card(session: CheckoutSession, consumer: Consumer, data: dict[str, Any]) -> PaymentMethod:
    """The saved card chosen, or the card typed in now (saved in the session's mode, and marked as
    entered at this checkout: it needs no step-up here)."""
    chosen = data.get("payment_method") or ""
    if chosen:
        return _saved_card(consumer, session, chosen)
    if data.get("setup_intent"):
        return step_up.checkout_card_from_setup(session=session, consumer=consumer, reference=data["setup_intent"])
    if not data.get("card_number"):
        raise InvalidRequestError("Enter a card.", param="card_number")
    return step_up.checkout_card_add(
        session=session,
        consumer=consumer,
        number=data["card_number"],
        exp_month=data.get("exp_month") or 0,
        exp_year=data.get("exp_year") or 0,
        cvc=data.get("cvc") or "",
    )


def _masked(destination: Destination) -> str:
    """Enough of the address for the shopper to recognize it, not enough to learn it."""
    if destination.channel == "email":
        name, _, domain = destination.address.partition("@")
        return f"{name[:1]}•••@{domain}"
    return f"your phone ending {destination.address[-2:]}"


def _step_up_page(
    request: HttpRequest,
    session: CheckoutSession,
    consumer: Consumer,
    card: PaymentMethod,
    chosen: dict[str, str],
    *,
    again: bool = False,
    wrong: str = "",
) -> HttpResponse:
    """The page again with the chosen offer and card, asking for the code sent (now, unless the
    shopper is correcting a wrong one) to their own address."""
    notice = ""
    if not wrong:
        try:
            step_up.checkout_step_up_send(
                session=session, consumer=consumer, payment_method=card, requester=code_requester(request)
            )
        except ApplicationError as error:  # too soon or too many: say when to ask again
            notice = error.message
    try:
        destination = _masked(consumer_services.consumer_code_destination(consumer))
    except ApplicationError as error:
        return _page(request, session, status=400, error=error.message, error_param="payment_method", **chosen)
    return _page(
        request,
        session,
        status=403 if not wrong else 400,
        error=wrong or notice,
        error_param=STEP_UP_PARAM if wrong or notice else "",
        step_up={"card": card, "destination": destination, "sent": not notice, "again": again},
        **{**chosen, "chosen_card": card.public_id},
    )


@require_POST
def step_up_code(request: HttpRequest, session_id: str) -> HttpResponse:
    """Send a fresh step-up code for the saved card chosen (the page's "send a new code")."""
    session = _session_or_404(session_id)
    consumer = getattr(request, "consumer", None)
    if consumer is None:
        return redirect("checkout:session", session_id=session.public_id)
    form = ConfirmForm(request.POST)
    if not form.is_valid() or not form.cleaned_data["payment_method"]:
        return redirect("checkout:session", session_id=session.public_id)
    chosen = {"chosen_product": form.cleaned_data["product"], "chosen_card": form.cleaned_data["payment_method"]}
    try:
        checkout_sessions.checkout_session_usable(session)
        card = _saved_card(consumer, session, form.cleaned_data["payment_method"])
    except ApplicationError as error:
        if error.code.startswith("session_"):
            return _closed(request, session, error)
        return _page(request, session, status=400, error=error.message, error_param=error.param, **chosen)
    return _step_up_page(request, session, consumer, card, chosen, again=True)


@require_http_methods(["GET"])
def approved(request: HttpRequest, session_id: str) -> HttpResponse:
    """The approval: the plan as it now stands, and the way back to the shop (only for the consumer
    who completed this checkout)."""
    session = _session_or_404(session_id)
    consumer = getattr(request, "consumer", None)
    order = getattr(session, "order", None) if session.status == CheckoutSession.Status.COMPLETE else None
    if order is None or consumer is None or order.consumer_id != consumer.pk:
        raise Http404
    plan = order.plan
    first = plan.charges.filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED).order_by("created_at").first()
    card = first.payment_method if first else payment_method_default(consumer_id=consumer.pk, livemode=order.livemode)
    return _render(
        request,
        "checkout/approved.html",
        session,
        {
            "plan": plan,
            "amount": format_amount(order.authorized_amount, order.currency),
            "paid_today": format_amount(first.amount, first.currency) if first else "",
            "card": card,
            "installments": [
                {
                    "due_date": row.due_date,
                    "amount": format_amount(row.amount, plan.currency),
                    "status": "paid" if row.status == "paid" else "due",
                }
                for row in plan.installments.order_by("due_date", "sequence")
            ],
            "continue_url": _with_query(session.return_url, checkout_session=session.public_id, order=order.public_id),
        },
    )


@require_POST
def cancel(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    try:
        checkout_sessions.checkout_session_cancel(session=session)
    except ApplicationError as error:
        return _closed(request, session, error)
    return HttpResponseRedirect(back_to_shop_url(session))
