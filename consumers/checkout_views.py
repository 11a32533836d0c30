"""The hosted checkout: where a merchant sends a shopper to pay later.

/checkout/<session>            the cart, sign-in prompt, then (prequalified: ``bnpl.checkout.prequalification``)
                               only the offers this shopper is approved for, with exact schedules, and
                               the card -- or the decline with its reasons, before any card is asked for
/checkout/<session>/identity   KYC basics, once per consumer
/checkout/<session>/confirm    POST: the prequalified decision, today's payment, authorize, return to the shop
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
from bnpl.checkout import selectors as checkout_selectors
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout import step_up
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.prequalification import Option, Prequalified, prequalified_declined, prequalified_reasons
from bnpl.checkout.step_up import STEP_UP_PARAM, StepUpRequiredError
from bnpl.collections.lateness import late_fee_cap
from bnpl.core import clock
from bnpl.core.errors import ApplicationError, InvalidRequestError, PaymentDeclinedError
from bnpl.core.ids import is_well_formed
from bnpl.core.money import format_amount
from bnpl.payments.models import PaymentMethod
from bnpl.payments.selectors import payment_method_default, payment_method_get, payment_method_list
from bnpl.payments.services import browser_card_form
from bnpl.plans import services as plan_services
from bnpl.plans.models import PaymentProduct
from consumers import checkout_summary
from consumers import selectors as consumer_selectors
from consumers import services as consumer_services
from consumers.documents import LENDER
from consumers.models import Consumer
from consumers.services import Destination
from consumers.views import code_requester


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


def _number_error(what: str, example: str) -> dict[str, str]:
    message = f"Enter {what} as a number ({example})."
    return {"invalid": message, "min_value": message, "max_value": message}


class ConfirmForm(forms.Form):
    product = forms.CharField(max_length=40)
    payment_method = forms.CharField(max_length=40, required=False)  # a saved card's id, or blank for a new card
    setup_intent = forms.CharField(max_length=100, required=False)  # a card saved in the browser (Stripe Elements)
    card_number = forms.CharField(
        max_length=23, required=False, error_messages={"max_length": "Enter the card number as printed on the card."}
    )
    exp_month = forms.IntegerField(
        min_value=1, max_value=12, required=False, error_messages=_number_error("the expiry month", "1 to 12")
    )
    exp_year = forms.IntegerField(
        min_value=2000, max_value=2100, required=False, error_messages=_number_error("the expiry year", "like 2030")
    )
    cvc = forms.CharField(
        max_length=4, required=False, error_messages={"max_length": "Enter the 3 or 4 digit security code."}
    )
    accept_down_payment = forms.IntegerField(min_value=0, required=False)  # accepting a counteroffer
    step_up_code = forms.CharField(max_length=10, required=False)  # a saved card new to this shop


def _session_or_404(session_id: str) -> CheckoutSession:
    if not is_well_formed(session_id):
        raise Http404
    session = checkout_selectors.checkout_session_for_page(public_id=session_id)
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
        {
            **checkout_summary.order_summary(session),  # the merchant and the order, on every page
            "session": session,
            "test_mode": not session.livemode,
            "back_url": back_to_shop_url(session),
            **context,
        },
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


def _today_label(amount: int, currency: str) -> str:
    """What the confirm button says happens: never "$0.00 today"."""
    return f"Pay {format_amount(amount, currency)} today" if amount else "Nothing to pay today"


def _every(product: PaymentProduct) -> str:
    if product.kind == "pay_in_30":
        return "in 30 days"
    if product.kind == "financing":
        return "a month"
    days = product.interval_days or 0
    return "every 2 weeks" if days == 14 else f"every {days} days" if days else ""


def _offer_rows(offer: plan_services.Offer, currency: str) -> dict[str, Any]:
    later = [payment.amount for payment in offer.schedule if payment.due_date > clock.today()]
    return {
        "count": len(offer.schedule),
        "later_count": len(later),
        "every": _every(offer.product),
        "today_label": _today_label(offer.due_today_amount, currency),
        "due_today_amount": offer.due_today_amount,
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


def _option_rows(option: Option, currency: str, amount: int) -> dict[str, Any]:
    down_payment = option.decision.down_payment_amount
    return {
        **_offer_rows(option.offer, currency),
        "down_payment_amount": down_payment,
        "down_payment": format_amount(down_payment, currency),
        "approved": format_amount(amount - down_payment, currency),
        "reasons": option.decision.reasons if down_payment else (),
    }


def _page(
    request: HttpRequest,
    session: CheckoutSession,
    *,
    status: int = 200,
    prequalified: Prequalified | None = None,
    **context: Any,
) -> HttpResponse:
    """The checkout page: signed out, the order and the way to sign in; prequalified, the options
    this shopper is approved for (with the limit), the card and the confirm."""
    consumer: Consumer | None = getattr(request, "consumer", None)
    if consumer is None:
        prequalified = None
    options = prequalified.approved if prequalified else []
    limit = prequalified.limit if prequalified else None
    rows = [_option_rows(option, session.currency, session.amount) for option in options]
    chosen_product = context.get("chosen_product") or ""
    chosen_row = next((row for row in rows if row["product"].public_id == chosen_product), rows[0] if rows else None)
    typed = context.pop("typed", None) or {}
    base = {
        "session": session,
        "consumer": consumer,
        "steps": checkout_summary.steps(checkout_summary.PLAN if consumer else checkout_summary.SIGN_IN),
        "offers": rows,
        "confirm_label": chosen_row["today_label"] if chosen_row else "Confirm",
        "field_errors": FIELD_ERRORS,
        "card_fields": [{**field, "value": typed.get(field["name"], "")} for field in CARD_INPUTS],
        "lender": LENDER,
        "limit": format_amount(limit, session.currency) if limit else "",
        "cards": payment_method_list(consumer=consumer, livemode=session.livemode) if consumer else [],
        "saved_cards_need_code": consumer is not None
        and not step_up.consumer_has_bought_here(session=session, consumer=consumer),
        "sign_in_url": f"{reverse('consumers:sign-in')}?{urlencode({'next': request.path})}",
        "card_form": (
            browser_card_form(consumer=consumer, livemode=session.livemode, purpose=session.public_id)
            if consumer
            else None
        ),
    }
    return _render(request, "checkout/session.html", session, {**base, **context}, status=status)


def _closed(request: HttpRequest, session: CheckoutSession, error: ApplicationError) -> HttpResponse:
    if session.status == CheckoutSession.Status.IN_REVIEW:
        return _render(request, "checkout/in_review.html", session, {})
    consumer = getattr(request, "consumer", None)
    if session.status == CheckoutSession.Status.DECLINED and consumer is not None:
        # The shopper it declined, coming back: the decline and its reasons (theirs alone), not the offers.
        reasons = prequalified_reasons(session=session, consumer=consumer)
        if reasons is not None:
            return _declined(request, session, reasons)
    return _render(request, "checkout/closed.html", session, {"message": error.message}, status=409)


@require_http_methods(["GET"])
def checkout_session(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    try:
        checkout_sessions.checkout_session_usable(session)
    except ApplicationError as error:
        return _closed(request, session, error)
    consumer = getattr(request, "consumer", None)  # opening the page tells the merchant nothing about them
    if consumer is None:
        return _page(request, session)
    if not consumer_selectors.identity_is_verified(consumer_id=consumer.pk):
        return redirect("checkout:identity", session_id=session.public_id)
    return _prequalified_page(request, session, consumer)


def _prequalified_page(
    request: HttpRequest, session: CheckoutSession, consumer: Consumer, *, status: int = 200, **context: Any
) -> HttpResponse:
    """Decide before the choice: the options this shopper is approved for, or the decline with its
    reasons, or the review -- before any card is asked for (``checkout_session_prequalify``)."""
    try:
        prequalified = checkout_confirmation.checkout_session_prequalify(session=session, consumer=consumer)
    except ApplicationError as error:
        if error.code.startswith("session_"):
            return _closed(request, session, error)
        return _render(
            request,
            "checkout/unavailable.html",
            session,
            {"message": error.message},
            status=503,
        )
    if prequalified.referred:
        return _render(request, "checkout/in_review.html", session, {})
    if prequalified.declined:
        return _declined(request, session, prequalified.reasons)
    return _page(request, session, status=status, prequalified=prequalified, **context)


def _declined(request: HttpRequest, session: CheckoutSession, reasons: Any, *, status: int = 200) -> HttpResponse:
    return _render(request, "checkout/declined.html", session, {"reasons": reasons}, status=status)


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
    context = {
        "form": form,
        "steps": checkout_summary.steps(checkout_summary.IDENTITY),
    }
    return _render(request, "checkout/identity.html", session, context, status=status)


CARD_FIELDS = ("card_number", "exp_month", "exp_year", "cvc")
CARD_INPUTS = (
    {"name": "card_number", "label": "Card number", "autocomplete": "cc-number", "placeholder": "4242 4242 4242 4242"},
    {"name": "exp_month", "label": "Expiry month", "autocomplete": "cc-exp-month", "placeholder": "MM"},
    {"name": "exp_year", "label": "Expiry year", "autocomplete": "cc-exp-year", "placeholder": "YYYY"},
    {"name": "cvc", "label": "Security code", "autocomplete": "cc-csc", "placeholder": "CVC"},
)
# Errors shown next to their field rather than above the form.
FIELD_ERRORS = (*CARD_FIELDS, "product", "payment_method", "step_up_code")


def _typed(request: HttpRequest) -> dict[str, str]:
    """The card details the shopper typed, kept for the page again (never the security code)."""
    return {name: request.POST.get(name, "")[:23] for name in CARD_FIELDS if name != "cvc"}


def _form_error(form: forms.Form) -> tuple[str, str]:
    """The first field at fault and what to do about it."""
    for name in (*CARD_FIELDS, "product", "payment_method", "setup_intent", "accept_down_payment", "step_up_code"):
        if name in form.errors:
            return name, str(form.errors[name][0])
    return "", "Choose a payment option and a card."


def _accepted_down_payment(request: HttpRequest, form: ConfirmForm) -> int:
    """The down payment the shopper saw and accepted with the option chosen (a counteroffer's row
    carries its own), or the counteroffer page's."""
    shown = request.POST.get(f"accept_down_payment_{form.cleaned_data['product']}", "")
    return int(shown) if shown.isdigit() and len(shown) < 16 else form.cleaned_data.get("accept_down_payment") or 0


@require_POST
def confirm(request: HttpRequest, session_id: str) -> HttpResponse:
    session = _session_or_404(session_id)
    consumer = getattr(request, "consumer", None)
    if consumer is None:
        return redirect("checkout:session", session_id=session.public_id)
    form = ConfirmForm(request.POST)
    typed = _typed(request)
    if not form.is_valid():
        param, message = _form_error(form)
        return _prequalified_page(
            request,
            session,
            consumer,
            status=400,
            error=message,
            error_param=param,
            typed=typed,
            chosen_product=request.POST.get("product", ""),
            chosen_card=request.POST.get("payment_method", ""),
        )
    chosen = {"chosen_product": form.cleaned_data["product"], "chosen_card": form.cleaned_data["payment_method"]}
    payment_method = None
    try:
        checkout_sessions.checkout_session_usable(session)
        product = checkout_confirmation.eligible_product(
            session=session, product_public_id=form.cleaned_data["product"]
        )
        if prequalified_declined(session=session, consumer=consumer, product=product):
            raise InvalidRequestError(
                "Choose one of the payment options shown.", code="product_not_offered", param="product"
            )
        payment_method = _card(session, consumer, form.cleaned_data)
        result = checkout_confirmation.checkout_confirm(
            session=session,
            consumer=consumer,
            product=product,
            payment_method=payment_method,
            accepted_down_payment=_accepted_down_payment(request, form),
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
        status = 402 if isinstance(error, PaymentDeclinedError) else 400
        return _prequalified_page(
            request,
            session,
            consumer,
            status=status,
            error=error.message,
            error_param=error.param,
            typed=typed,
            **chosen,
        )
    if result.order is not None:
        return redirect("checkout:approved", session_id=session.public_id)
    if result.decision is not None and result.decision.referred:
        return _render(request, "checkout/in_review.html", session, {})
    if result.payment_error:
        # The card stays unselected: a card typed now is the new card again, with what was typed kept.
        new_card = not form.cleaned_data["payment_method"]
        return _prequalified_page(
            request,
            session,
            consumer,
            status=402,
            error=result.payment_error,
            error_param="card_number" if new_card else "payment_method",
            typed=typed if new_card else {},
            chosen_product=chosen["chosen_product"],
            chosen_card="" if new_card else chosen["chosen_card"],
        )
    assert result.decision is not None
    if result.counteroffer is not None:
        down_payment = result.decision.down_payment_amount
        return _render(
            request,
            "checkout/counteroffer.html",
            session,
            {
                "row": _offer_rows(result.counteroffer, session.currency),
                "approved": format_amount(session.amount - down_payment, session.currency),
                "down_payment": format_amount(down_payment, session.currency),
                "down_payment_amount": down_payment,
                "payment_method": payment_method.public_id,
                "reasons": result.decision.reasons,
            },
        )
    return _declined(request, session, result.decision.reasons)


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
        verify=True,  # a card the bank declines is never saved (nor offered again as a saved card)
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
        return _prequalified_page(
            request, session, consumer, status=400, error=error.message, error_param="payment_method", **chosen
        )
    return _prequalified_page(
        request,
        session,
        consumer,
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
        return _prequalified_page(
            request, session, consumer, status=400, error=error.message, error_param=error.param, **chosen
        )
    return _step_up_page(request, session, consumer, card, chosen, again=True)


@require_http_methods(["GET"])
def approved(request: HttpRequest, session_id: str) -> HttpResponse:
    """The approval: the plan as it now stands, and the way back to the shop (only for the consumer
    who completed this checkout)."""
    session = _session_or_404(session_id)
    consumer = getattr(request, "consumer", None)
    if session.status != CheckoutSession.Status.COMPLETE or consumer is None:
        raise Http404
    order = checkout_selectors.checkout_session_order_with_plan(session_id=session.pk)
    if order is None or order.consumer_id != consumer.pk:
        raise Http404
    plan = order.plan
    first = checkout_selectors.plan_first_payment(plan_id=plan.pk)
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
                for row in checkout_selectors.plan_installments_by_due_date(plan_id=plan.pk)
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
