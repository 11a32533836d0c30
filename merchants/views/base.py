"""What every dashboard page shares: the signed-in user's membership of the merchant they work
on, the mode (test or live data, a session flag), and the access rule of the page.

Every view is wrapped by ``dashboard_view(access=…)``: ``read`` for any member, ``write`` for
owners and admins (analysts get a 403 on the server, whatever the page shows), ``owner`` for team
management. Objects are looked up through ``merchants.selectors.scoped_get`` with the current
merchant and mode, so another merchant's (or the other mode's) object is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, TypeVar

from django.contrib.auth.decorators import login_required
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.response import TemplateResponse

from bnpl.core.errors import NotFoundError
from merchants import selectors
from merchants.models import Membership

CURRENT_MERCHANT_SESSION_KEY = "merchant_public_id"
LIVEMODE_SESSION_KEY = "dashboard_livemode"

Access = Literal["read", "write", "owner"]
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
            return selectors.scoped_get(model, merchant=self.merchant, livemode=self.livemode, public_id=public_id)
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


def dashboard_view(*, access: Access = "read") -> Callable[[View], View]:
    """Sign-in, membership and role checks for a dashboard page; the view gets a ``Dashboard``.
    The wrapper carries ``dashboard_access`` so the tests can walk every page by its rule."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
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
