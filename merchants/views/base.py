"""What every dashboard page shares: the signed-in user's membership of the merchant they work
on, the mode (test or live data, a session flag), and the access rule of the page.

Every view is wrapped by ``dashboard_view(access=…)``: ``read`` for any member, ``write`` for
owners and admins (analysts get a 403 on the server, whatever the page shows), ``owner`` for team
management, ``personal`` for a member's own sign-in settings (any member, about themselves only).
Objects are looked up through ``bnpl.tenancy.selectors.scoped_get`` with the current merchant and
mode, so another merchant's (or the other mode's) object is a 404.

Before any of that, the second factor (``second_factor_redirect``): a member who enrolled an
authenticator must have passed it in this session (else to the code step), and an owner who must
enroll (MERCHANT_OWNER_TWO_FACTOR_REQUIRED) is sent to enroll before any page but the personal ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from bnpl.accounts import two_factor
from bnpl.core.context import merchant_known
from bnpl.core.errors import NotFoundError
from bnpl.tenancy.selectors import scoped_get
from merchants import dashboard as dashboard_selectors
from merchants import selectors
from merchants.models import Membership

CURRENT_MERCHANT_SESSION_KEY = "merchant_public_id"
CONFIRMATIONS_SESSION_KEY = "dashboard_confirmations"
LIVEMODE_SESSION_KEY = "dashboard_livemode"

Access = Literal["read", "write", "owner", "personal"]
ANALYST_REFUSAL = "Analysts have read-only access. Ask an owner or admin."
OWNER_REFUSAL = "Only the merchant's owners manage the team."
ALREADY_DONE = "That confirmation was already used: nothing more was done."

OwnedModel = TypeVar("OwnedModel", bound=Model)


def current_membership(request: HttpRequest) -> Membership | None:
    """The merchant a team member is working on: chosen with ``?merchant=mer_…`` (remembered in the
    session) among their own memberships, else their first one."""
    user_id = int(request.user.pk or 0)
    requested = request.GET.get("merchant", "")
    if requested and selectors.membership_for_user(user_id=user_id, merchant_public_id=requested):
        request.session[CURRENT_MERCHANT_SESSION_KEY] = requested
    chosen = request.session.get(CURRENT_MERCHANT_SESSION_KEY)
    return (chosen and selectors.membership_for_user(user_id=user_id, merchant_public_id=chosen)) or (
        selectors.membership_for_user(user_id=user_id)
    )


def current_livemode(request: HttpRequest) -> bool:
    """Test data unless the member switched to live (the switch is per browser session)."""
    return bool(request.session.get(LIVEMODE_SESSION_KEY, False))


class Dashboard:
    """The request's context: who, for which merchant, in which mode."""

    def __init__(self, request: HttpRequest, membership: Membership) -> None:
        self.request = request
        self.membership = membership
        self.merchant = membership.merchant
        self.livemode = current_livemode(request)
        merchant_known(self.merchant.public_id, self.livemode)

    def get(self, model: type[OwnedModel], public_id: str) -> OwnedModel:
        """The current merchant's object in the current mode, or a 404."""
        try:
            return scoped_get(model, merchant=self.merchant, livemode=self.livemode, public_id=public_id)
        except NotFoundError:
            raise Http404(f"No such {model._meta.verbose_name}.") from None

    def confirmation_issue(self) -> str:
        """A one-use token for a confirmation form, so a double submit acts once."""
        token = secrets.token_urlsafe(16)
        pending = self.request.session.get(CONFIRMATIONS_SESSION_KEY, [])[-20:]
        self.request.session[CONFIRMATIONS_SESSION_KEY] = [*pending, token]
        return token

    def confirmation_use(self, token: str) -> bool:
        """Spend a token this session was given; False when it was not given or already spent."""
        pending = self.request.session.get(CONFIRMATIONS_SESSION_KEY, [])
        if not token or token not in pending:
            return False
        pending.remove(token)
        self.request.session[CONFIRMATIONS_SESSION_KEY] = pending
        return True

    def confirmed(self) -> bool | None:
        """For a destructive POST: None when it carries no confirmation (ask first: show
        ``confirm``), True when its one-use token is good (act), False when the token was already
        spent or is not this session's (act on nothing)."""
        token = self.request.POST.get("confirmation", "")
        if not token:
            return None
        return self.confirmation_use(token)

    def confirm(self, *, nav: str, title: str, text: str, button: str, cancel: str) -> HttpResponse:
        """The confirmation step of a destructive action: a page that posts the same request again
        with a one-use token. Without the token the action's view changes nothing but shows this."""
        return self.render(
            "merchants/confirm.html",
            {
                "nav": nav,
                "title": title,
                "text": text,
                "button": button,
                "action": self.request.path,
                "cancel": cancel,
                "confirmation": self.confirmation_issue(),
            },
        )

    def confirm_first(
        self, *, nav: str, title: str, text: str, button: str, cancel: str, spent: str | None = None
    ) -> HttpResponse | None:
        """The two steps of a destructive POST in one call: the confirmation page when the request
        carries no confirmation, a redirect (to ``spent``, else ``cancel``) saying nothing more was
        done when its token was already used, and None when the view may act."""
        confirmed = self.confirmed()
        if confirmed is None:
            return self.confirm(nav=nav, title=title, text=text, button=button, cancel=cancel)
        if not confirmed:
            messages.info(self.request, ALREADY_DONE)
            return redirect(spent or cancel)
        return None

    def render(self, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HttpResponse:
        base = {
            "membership": self.membership,
            "merchant": self.merchant,
            "livemode": self.livemode,
            "memberships": selectors.memberships_for_user(user_id=self.membership.user_id),
            "attention_count": dashboard_selectors.attention_count(merchant=self.merchant, livemode=self.livemode),
        }
        response = TemplateResponse(self.request, template, {**base, **(context or {})}, status=status)
        response["Cache-Control"] = "no-store"
        return response.render()


View = Callable[..., HttpResponseBase]


def second_factor_redirect(request: HttpRequest, *, enrolling: bool = False) -> HttpResponseRedirect | None:
    """Where a signed-in user must go first, or None: the code step when they enrolled but this
    session has not passed it (signed in with the password only); the enrollment page when they
    must enroll and have not (``enrolling``: already on a page that enrolls)."""
    user = request.user
    if two_factor.is_verified(request):
        return None
    if two_factor.has_second_factor(user):
        return HttpResponseRedirect(
            f"{reverse('merchants:login-verify')}?{urlencode({'next': request.get_full_path()})}"
        )
    if not enrolling and selectors.two_factor_required_for(user_id=int(user.pk or 0)):
        return HttpResponseRedirect(reverse("merchants:security"))
    return None


def dashboard_view(*, access: Access = "read") -> Callable[[View], View]:
    """Sign-in, membership and role checks for a dashboard page; the view gets a ``Dashboard``.
    The wrapper carries ``dashboard_access`` so the tests can walk every page by its rule."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            gate = second_factor_redirect(request, enrolling=access == "personal")
            if gate is not None:
                return gate
            membership = current_membership(request)
            if membership is None:
                return render(request, "merchants/no_membership.html", status=403)
            if access == "write" and not membership.can_write:
                return HttpResponseForbidden(ANALYST_REFUSAL)
            if access == "owner" and membership.role != Membership.Role.OWNER:
                return HttpResponseForbidden(OWNER_REFUSAL)
            return view(Dashboard(request, membership), *args, **kwargs)

        wrapper.dashboard_access = access  # type: ignore[attr-defined]
        return wrapper

    return decorator
