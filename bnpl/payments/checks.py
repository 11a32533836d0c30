"""Which parts serve which mode, checked in one place.

Test mode (merchants' ``sk_test_`` keys and their test checkouts) must never move real money or pull
a real person's credit file; live mode must never be served by the sandbox in production.

- ``live_in_test_mode_problems()``: every way a live credential or a live part would serve test
  mode (or a retired variable would be silently ignored). Every process (web, worker, beat,
  ``manage.py``) refuses to start on any of them: ``PaymentsConfig.ready`` calls
  ``mode_parts_verify``.
- ``live_parts_problems()``: what production must refuse for live mode (the sandbox gateway or
  bureau, missing or test keys, Stripe calls sent elsewhere). Every process outside the sandbox
  refuses to start on any of them (``live_parts_verify``), and ``check --deploy`` reports them for
  any settings module; the demo and the tests, in the sandbox, run live mode on the sandbox on
  purpose.
- ``gateway_class``: the class serving a mode, refusing at each call what start-up refuses.

No message ever contains a credential's value: only its variable's name.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

SECRET_KEY_PREFIXES = {True: ("sk_live_", "rk_live_"), False: ("sk_test_", "rk_test_")}
PUBLISHABLE_KEY_PREFIXES = {True: ("pk_live_",), False: ("pk_test_",)}
# Variables of the one-gateway-for-both-modes configuration, and what replaced them.
RETIRED_VARIABLES = {
    "PAYMENT_GATEWAY": "PAYMENT_GATEWAY_TEST and PAYMENT_GATEWAY_LIVE",
    "STRIPE_SECRET_KEY": "STRIPE_TEST_SECRET_KEY and STRIPE_LIVE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY": "STRIPE_TEST_PUBLISHABLE_KEY and STRIPE_LIVE_PUBLISHABLE_KEY",
    "STRIPE_WEBHOOK_SECRET": "STRIPE_TEST_WEBHOOK_SECRET and STRIPE_LIVE_WEBHOOK_SECRET",
    "BUREAU_PROVIDER": "BUREAU_PROVIDER_TEST and BUREAU_PROVIDER_LIVE",
}


def mode_name(livemode: bool) -> str:
    return "LIVE" if livemode else "TEST"


def stripe_setting(name: str, *, livemode: bool) -> str:
    """``STRIPE_{LIVE,TEST}_<name>`` of one mode."""
    return str(getattr(settings, f"STRIPE_{mode_name(livemode)}_{name}"))


def _prefixed(value: str, prefixes: tuple[str, ...]) -> bool:
    return value.startswith(prefixes)


def stripe_key_problems(*, livemode: bool, in_use: bool = True) -> list[str]:
    """Stripe keys of one mode that are another mode's (or no mode's). ``in_use``: a Stripe
    gateway serves this mode, so its secret key must be there."""
    mode = mode_name(livemode)
    problems = []
    secret_name, publishable_name = f"STRIPE_{mode}_SECRET_KEY", f"STRIPE_{mode}_PUBLISHABLE_KEY"
    secret = stripe_setting("SECRET_KEY", livemode=livemode)
    publishable = stripe_setting("PUBLISHABLE_KEY", livemode=livemode)
    if secret and not _prefixed(secret, SECRET_KEY_PREFIXES[livemode]):
        expected = " or ".join(SECRET_KEY_PREFIXES[livemode])
        problems.append(f"{secret_name} is not a {mode.lower()}-mode key: it must begin {expected}.")
    if in_use and not secret:
        problems.append(f"{secret_name} is empty, but the Stripe gateway serves {mode.lower()} mode.")
    if publishable and not _prefixed(publishable, PUBLISHABLE_KEY_PREFIXES[livemode]):
        expected = " or ".join(PUBLISHABLE_KEY_PREFIXES[livemode])
        problems.append(f"{publishable_name} is not a {mode.lower()}-mode key: it must begin {expected}.")
    return problems


def _class_at(setting_name: str) -> tuple[Any, str | None]:
    """The class a setting names, or why there is none."""
    path = str(getattr(settings, setting_name) or "")
    if not path:
        return None, f"{setting_name} is not set."
    try:
        return import_string(path), None
    except ImportError:
        return None, f"{setting_name} names {path!r}, which cannot be imported."


def _is_stripe(gateway: Any) -> bool:
    return getattr(gateway, "name", "") == "stripe"


def gateway_class(*, livemode: bool) -> Any:
    """The gateway class serving one mode. Refuses (ImproperlyConfigured) a mode with none, and a
    test-mode gateway not made for test mode (one that could move real money there)."""
    setting_name = f"PAYMENT_GATEWAY_{mode_name(livemode)}"
    gateway, problem = _class_at(setting_name)
    if problem:
        raise ImproperlyConfigured(problem)
    if not livemode and not getattr(gateway, "test_mode_safe", False):
        raise ImproperlyConfigured(_not_test_mode_safe(setting_name))
    return gateway


def _not_test_mode_safe(setting_name: str) -> str:
    return (
        f"{setting_name} names a gateway that is not made for test mode: test mode takes the sandbox "
        "(bnpl.payments.gateways.SandboxGateway) or Stripe with test keys only."
    )


def live_in_test_mode_problems() -> list[str]:
    """Every way a live credential or live part would serve test mode. Each names its variable."""
    problems = [
        f"{name} is no longer read (one gateway served both modes): set {replacement}."
        for name, replacement in RETIRED_VARIABLES.items()
        if name in os.environ
    ]
    gateway, problem = _class_at("PAYMENT_GATEWAY_TEST")
    if problem:
        problems.append(problem)
    elif not getattr(gateway, "test_mode_safe", False):
        problems.append(_not_test_mode_safe("PAYMENT_GATEWAY_TEST"))
    problems += stripe_key_problems(livemode=False, in_use=_is_stripe(gateway))
    test_secret, live_secret = settings.STRIPE_TEST_WEBHOOK_SECRET, settings.STRIPE_LIVE_WEBHOOK_SECRET
    if test_secret and test_secret == live_secret:
        problems.append(
            "STRIPE_TEST_WEBHOOK_SECRET is STRIPE_LIVE_WEBHOOK_SECRET: each mode's webhook endpoint has its "
            "own signing secret, or a test-mode event could pass for a live one."
        )
    from decisioning.bureau import bureau_problems

    problems += bureau_problems(livemode=False)
    return problems


def mode_parts_verify() -> None:
    """Refuse to start (ImproperlyConfigured naming each variable) when a live credential or part
    would serve test mode. Called by every process at start-up."""
    problems = live_in_test_mode_problems()
    if problems:
        raise ImproperlyConfigured("Test mode would move real money or read real data: " + " ".join(problems))


def live_parts_verify() -> None:
    """Outside the sandbox, refuse to start (ImproperlyConfigured naming each variable) unless live
    mode is served by real parts."""
    if settings.BNPL_SANDBOX:
        return
    problems = live_parts_problems()
    if problems:
        raise ImproperlyConfigured("Live mode is not served by real parts: " + " ".join(problems))


def live_parts_problems() -> list[str]:
    """What live mode would be served by in production that it must not: the sandbox gateway or
    bureau, a Stripe gateway without its live keys or talking to another server, a bureau adapter
    without its address or key. Empty when live mode is served by real parts only."""
    problems = []
    gateway, problem = _class_at("PAYMENT_GATEWAY_LIVE")
    if problem:
        problems.append(problem + " Live mode needs a real gateway (bnpl.payments.stripe_gateway.StripeGateway).")
    elif getattr(gateway, "is_sandbox", False):
        problems.append(
            "PAYMENT_GATEWAY_LIVE is the sandbox gateway: live checkouts would lend without taking any money."
        )
    elif _is_stripe(gateway):
        problems += stripe_key_problems(livemode=True, in_use=True)
        if not settings.STRIPE_LIVE_PUBLISHABLE_KEY:
            problems.append("STRIPE_LIVE_PUBLISHABLE_KEY is empty: the hosted checkout cannot take cards.")
        if not settings.STRIPE_LIVE_WEBHOOK_SECRET:
            problems.append("STRIPE_LIVE_WEBHOOK_SECRET is empty: payments Stripe settles later are never heard of.")
        if settings.STRIPE_API_BASE:
            problems.append("STRIPE_API_BASE is set: the live secret key would be sent to a server other than Stripe.")
        if settings.STRIPE_JS_URL:
            problems.append("STRIPE_JS_URL is set: shoppers would type live cards into a script not from Stripe.")
        if settings.STRIPE_SERVER_SIDE_CARDS:
            problems.append("STRIPE_SERVER_SIDE_CARDS is on: card numbers would reach our servers (tests only).")
    from decisioning.bureau import bureau_problems

    problems += bureau_problems(livemode=True)
    return problems
