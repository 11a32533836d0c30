"""Settings and team: the payment products offered (on/off and their amount limits), the checkout
branding, and the team (invitations with a role, role changes, removal; owners only)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.mail import send_mail
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bnpl.core.errors import ApplicationError
from bnpl.core.links import public_url
from bnpl.core.money import format_amount, from_decimal, to_decimal
from bnpl.plans.models import PaymentProduct
from bnpl.plans.selectors import payment_product_list
from bnpl.plans.services import product_update
from merchants import selectors, services
from merchants.models import Membership
from merchants.views.base import Dashboard, dashboard_view


class BrandingForm(forms.Form):
    display_name = forms.CharField(max_length=100, required=False, label="Name shown at checkout")
    primary_colour = forms.CharField(
        max_length=7, label="Button colour", widget=forms.TextInput(attrs={"type": "color"})
    )
    accent_colour = forms.CharField(
        max_length=7, label="Heading colour", widget=forms.TextInput(attrs={"type": "color"})
    )
    logo = forms.FileField(required=False, label="Logo (PNG, JPEG or WebP, up to 512 KB)")
    remove_logo = forms.BooleanField(required=False, label="Remove the logo")


class InvitationForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Membership.Role.choices)


def _settings(dashboard: Dashboard, *, branding_form: BrandingForm | None = None, status: int = 200) -> HttpResponse:
    branding = selectors.branding_for(merchant=dashboard.merchant)
    products = payment_product_list(merchant=dashboard.merchant, livemode=dashboard.livemode).order_by(
        "currency", "kind", "installment_count"
    )
    return dashboard.render(
        "merchants/settings.html",
        {
            "nav": "settings",
            "products": [
                {
                    "product": product,
                    "min": format_amount(product.min_amount, product.currency),
                    "max": format_amount(product.max_amount, product.currency),
                    "min_major": to_decimal(product.min_amount, product.currency),
                    "max_major": to_decimal(product.max_amount, product.currency),
                    "fee": f"{product.merchant_fee_bps / 100:.2f}%"
                    + (
                        f" + {format_amount(product.merchant_fee_fixed_amount, product.currency)}"
                        if product.merchant_fee_fixed_amount
                        else ""
                    ),
                }
                for product in products
            ],
            "branding": branding,
            "branding_form": branding_form
            or BrandingForm(
                initial={
                    "display_name": branding.display_name,
                    "primary_colour": branding.primary_colour,
                    "accent_colour": branding.accent_colour,
                }
            ),
        },
        status=status,
    )


@require_GET
@dashboard_view()
def settings_page(dashboard: Dashboard) -> HttpResponse:
    return _settings(dashboard)


@require_POST
@dashboard_view(access="write")
def product_settings(dashboard: Dashboard, product_id: str) -> HttpResponse:
    """Turn a product on or off and set the order amounts it accepts, within what operators allow
    (the product's own validators)."""
    product = dashboard.get(PaymentProduct, product_id)
    post = dashboard.request.POST
    try:
        changes: dict[str, object] = {"is_enabled": post.get("is_enabled") == "on"}
        if post.get("min_amount"):
            changes["min_amount"] = from_decimal(post["min_amount"], product.currency)
        if post.get("max_amount"):
            changes["max_amount"] = from_decimal(post["max_amount"], product.currency)
        if int(changes.get("min_amount", product.min_amount)) > int(changes.get("max_amount", product.max_amount)):  # type: ignore[call-overload]
            raise ApplicationError("The minimum is above the maximum.")
        product_update(product=product, **changes)
    except (ApplicationError, ArithmeticError, ValueError) as error:
        messages.error(dashboard.request, f"{product.name}: {getattr(error, 'message', 'enter amounts such as 50.00')}")
    else:
        messages.success(dashboard.request, f"{product.name} saved.")
    return redirect("merchants:settings")


@require_POST
@dashboard_view(access="write")
def branding_update(dashboard: Dashboard) -> HttpResponse:
    form = BrandingForm(dashboard.request.POST, dashboard.request.FILES)
    if form.is_valid():
        try:
            services.branding_update(merchant=dashboard.merchant, **form.cleaned_data)
        except ApplicationError as error:
            form.add_error(error.param if error.param in form.fields else None, error.message)
        else:
            messages.success(dashboard.request, "Branding saved: the hosted checkout shows it now.")
            return redirect("merchants:settings")
    return _settings(dashboard, branding_form=form, status=400)


# --- Team ---------------------------------------------------------------------------------------


def _team(
    dashboard: Dashboard, *, invitation_link: str = "", form: InvitationForm | None = None, status: int = 200
) -> HttpResponse:
    return dashboard.render(
        "merchants/team.html",
        {
            "nav": "team",
            "members": selectors.membership_list(merchant=dashboard.merchant),
            "invitations": selectors.invitation_open_list(merchant=dashboard.merchant),
            "form": form or InvitationForm(),
            "invitation_link": invitation_link,
            "roles": Membership.Role.choices,
        },
        status=status,
    )


@require_GET
@dashboard_view()
def team(dashboard: Dashboard) -> HttpResponse:
    return _team(dashboard)


@require_POST
@dashboard_view(access="owner")
def invitation_create(dashboard: Dashboard) -> HttpResponse:
    """The link is shown once, here, and emailed to the invitee."""
    form = InvitationForm(dashboard.request.POST)
    if not form.is_valid():
        return _team(dashboard, form=form, status=400)
    try:
        created = services.invitation_create(
            merchant=dashboard.merchant, invited_by=dashboard.request.user, **form.cleaned_data
        )
    except ApplicationError as error:
        form.add_error("email", error.message)
        return _team(dashboard, form=form, status=400)
    link = public_url(reverse("merchants:invitation-accept", args=[created.token]))
    send_mail(
        subject=f"Join {dashboard.merchant.name} on BNPL",
        message=f"{dashboard.request.user} invited you as {created.invitation.role}. Accept within 7 days: {link}",
        from_email=None,
        recipient_list=[created.invitation.email],
    )
    return _team(dashboard, invitation_link=link)


@require_POST
@dashboard_view(access="owner")
def invitation_revoke(dashboard: Dashboard, invitation_id: str) -> HttpResponse:
    invitation = selectors.invitation_get(merchant=dashboard.merchant, public_id=invitation_id)
    if invitation is None:
        raise Http404("No such invitation.")
    services.invitation_revoke(invitation=invitation)
    messages.success(dashboard.request, f"Invitation to {invitation.email} withdrawn.")
    return redirect("merchants:team")


def _member(dashboard: Dashboard, membership_id: str) -> Membership:
    membership = selectors.membership_get(merchant=dashboard.merchant, public_id=membership_id)
    if membership is None:
        raise Http404("No such member.")
    return membership


@require_POST
@dashboard_view(access="owner")
def member_role(dashboard: Dashboard, membership_id: str) -> HttpResponse:
    membership = _member(dashboard, membership_id)
    try:
        services.membership_update(membership=membership, role=dashboard.request.POST.get("role", ""))
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
    else:
        messages.success(dashboard.request, f"{membership.user.email} is now {dashboard.request.POST.get('role')}.")
    return redirect("merchants:team")


@require_POST
@dashboard_view(access="owner")
def member_remove(dashboard: Dashboard, membership_id: str) -> HttpResponse:
    """Two steps: without a confirmation nothing changes and the page asks."""
    membership = _member(dashboard, membership_id)
    if (
        asking := dashboard.confirm_first(
            nav="team",
            title="Remove this member?",
            text=f"{membership.user.email} ({membership.get_role_display().lower()}) loses access to "
            f"{dashboard.merchant.name} at once. You can invite them again later.",
            button=f"Yes, remove {membership.user.email}",
            cancel=reverse("merchants:team"),
        )
    ) is not None:
        return asking
    try:
        services.membership_delete(membership=membership)
    except ApplicationError as error:
        messages.error(dashboard.request, error.message)
    else:
        messages.success(dashboard.request, f"{membership.user.email} left the team.")
    return redirect("merchants:team")
