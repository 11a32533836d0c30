"""Which parts may serve which mode. Every process refuses to start when a live credential or a
live part would serve test mode (checked in a real ``manage.py`` process, naming the variable and
never showing the credential); ``live_parts_problems`` lists what production must refuse for live
mode (the sandbox, missing or test keys, Stripe calls sent elsewhere, a bureau adapter without its
address or key)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from bnpl.payments.checks import gateway_class, live_in_test_mode_problems, live_parts_problems
from bnpl.payments.gateways import get_gateway

ROOT = Path(__file__).resolve().parents[3]
STRIPE = "bnpl.payments.stripe_gateway.StripeGateway"


def _check(env: dict[str, str], settings_module: str = "bnpl.settings.test") -> subprocess.CompletedProcess[str]:
    kept = {key: value for key, value in os.environ.items() if not key.startswith(("STRIPE_", "PAYMENT_", "BUREAU_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**kept, "DJANGO_SETTINGS_MODULE": settings_module, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_process_refuses_to_start_when_a_live_credential_would_serve_test_mode() -> None:
    cases = {
        "STRIPE_TEST_SECRET_KEY": {"STRIPE_TEST_SECRET_KEY": "sk_live_51Secret"},
        "STRIPE_TEST_PUBLISHABLE_KEY": {"STRIPE_TEST_PUBLISHABLE_KEY": "pk_live_51Public"},
        "BUREAU_PROVIDER_TEST": {"BUREAU_PROVIDER_TEST": "decisioning.bureau.HttpBureau"},
        "STRIPE_SECRET_KEY is no longer read": {"STRIPE_SECRET_KEY": "sk_live_51Secret"},
    }
    for expected, env in cases.items():
        result = _check(env)
        assert result.returncode != 0, expected
        assert "ImproperlyConfigured" in result.stderr and expected in result.stderr, result.stderr[-2000:]
        assert "51Secret" not in result.stderr and "51Public" not in result.stderr  # named, never shown

    assert _check({"STRIPE_TEST_SECRET_KEY": "sk_test_51Secret", "STRIPE_LIVE_SECRET_KEY": "sk_live_1"}).returncode == 0


def test_production_refuses_the_same() -> None:
    from tests.security.production_env import complete_production_env

    env = {**complete_production_env(), "STRIPE_TEST_SECRET_KEY": "rk_live_51Secret"}
    result = _check(env, "bnpl.settings.production")
    assert result.returncode != 0 and "STRIPE_TEST_SECRET_KEY" in result.stderr


def test_test_mode_problems_name_each_variable(settings: Any) -> None:
    assert live_in_test_mode_problems() == []

    settings.PAYMENT_GATEWAY_TEST = STRIPE
    assert any("STRIPE_TEST_SECRET_KEY is empty" in problem for problem in live_in_test_mode_problems())
    settings.PAYMENT_GATEWAY_TEST = "merchants.models.Merchant"  # anything not made for test mode
    assert any("PAYMENT_GATEWAY_TEST" in problem for problem in live_in_test_mode_problems())
    settings.PAYMENT_GATEWAY_TEST = "bnpl.payments.gateways.SandboxGateway"
    settings.STRIPE_TEST_WEBHOOK_SECRET = settings.STRIPE_LIVE_WEBHOOK_SECRET = "whsec_same"
    assert any("STRIPE_TEST_WEBHOOK_SECRET is STRIPE_LIVE_WEBHOOK_SECRET" in p for p in live_in_test_mode_problems())


def test_a_test_mode_gateway_not_made_for_test_mode_is_refused_at_each_call(settings: Any) -> None:
    settings.PAYMENT_GATEWAY_TEST = "merchants.models.Merchant"
    with pytest.raises(ImproperlyConfigured, match="PAYMENT_GATEWAY_TEST"):
        get_gateway(livemode=False)
    settings.PAYMENT_GATEWAY_LIVE = ""
    with pytest.raises(ImproperlyConfigured, match="PAYMENT_GATEWAY_LIVE is not set"):
        gateway_class(livemode=True)


def _real_live_parts(settings: Any) -> None:
    settings.PAYMENT_GATEWAY_LIVE = STRIPE
    settings.STRIPE_LIVE_SECRET_KEY = "rk_live_1"
    settings.STRIPE_LIVE_PUBLISHABLE_KEY = "pk_live_1"
    settings.STRIPE_LIVE_WEBHOOK_SECRET = "whsec_live"
    settings.STRIPE_API_BASE = settings.STRIPE_JS_URL = ""
    settings.STRIPE_SERVER_SIDE_CARDS = False
    settings.BUREAU_PROVIDER_LIVE = "decisioning.bureau.HttpBureau"
    settings.BUREAU_HTTP_URL = "https://bureau.example.com/v1/reports"
    settings.BUREAU_HTTP_API_KEY = "key"
    settings.BUREAU_HTTP_CA_BUNDLE = ""
    settings.BUREAU_HTTP_TIMEOUT_SECONDS = 5


def test_live_mode_on_real_parts_has_no_problems(settings: Any) -> None:
    _real_live_parts(settings)
    assert live_parts_problems() == []


def test_the_sandbox_serving_live_mode_is_a_problem_for_production(settings: Any) -> None:
    problems = live_parts_problems()  # the test settings: the sandbox for live, on purpose
    assert any(problem.startswith("PAYMENT_GATEWAY_LIVE is the sandbox gateway") for problem in problems)
    assert any(problem.startswith("BUREAU_PROVIDER_LIVE is the sandbox bureau") for problem in problems)
    settings.PAYMENT_GATEWAY_LIVE = settings.BUREAU_PROVIDER_LIVE = ""
    assert [problem.split(" ")[0] for problem in live_parts_problems()] == [
        "PAYMENT_GATEWAY_LIVE",
        "BUREAU_PROVIDER_LIVE",
    ]


def test_each_wrong_live_part_is_named(settings: Any) -> None:
    cases = {
        "STRIPE_LIVE_SECRET_KEY": ("STRIPE_LIVE_SECRET_KEY", "sk_test_1"),
        "STRIPE_LIVE_PUBLISHABLE_KEY": ("STRIPE_LIVE_PUBLISHABLE_KEY", "pk_test_1"),
        "STRIPE_LIVE_WEBHOOK_SECRET": ("STRIPE_LIVE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": ("STRIPE_API_BASE", "http://127.0.0.1:8420"),
        "STRIPE_JS_URL": ("STRIPE_JS_URL", "https://cdn.example.com/stripe.js"),
        "STRIPE_SERVER_SIDE_CARDS": ("STRIPE_SERVER_SIDE_CARDS", True),
        "BUREAU_HTTP_URL": ("BUREAU_HTTP_URL", "http://bureau.example.com/v1/reports"),
        "BUREAU_HTTP_API_KEY": ("BUREAU_HTTP_API_KEY", ""),
    }
    for expected, (name, value) in cases.items():
        _real_live_parts(settings)
        setattr(settings, name, value)
        problems = live_parts_problems()
        assert len(problems) == 1 and problems[0].startswith(expected), (name, problems)
