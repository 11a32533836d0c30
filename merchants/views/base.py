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

from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, TypeVar

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from bnpl.accounts import two_factor
from bnpl.core.errors import NotFoundError
from bnpl.tenancy.selectors import scoped_get
from merchants import selectors
from merchants.models import Membership

CURRENT_MERCHANT_SESSION_KEY = "merchant_public_id"
LIVEMODE_SESSION_KEY = "dashboard_livemode"

Access = Literal["read", "write", "owner", "personal"]
ANALYST_REFUSAL = "Analysts have read-only access. Ask an owner or admin."
OWNER_REFUSAL = "Only the merchant's owners manage the team."

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

    def get(self, model: type[OwnedModel], public_id: str) -> OwnedModel:
        """The current merchant's object in the current mode, or a 404."""
        try:
            return scoped_get(model, merchant=self.merchant, livemode=self.livemode, public_id=public_id)
        except NotFoundError:
            raise Http404(f"No such {model._meta.verbose_name}.") from None

    def render(self, template: str, context: dict[str, Any] | None = None, *, status: int = 200) -> HttpResponse:
        base = {
            "membership": self.membership,
            "merchant": self.merchant,
            "livemode": self.livemode,
            "memberships": selectors.memberships_for_user(user_id=self.membership.user_id),
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
