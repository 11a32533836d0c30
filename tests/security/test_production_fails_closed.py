"""Finding: the default settings were the sandbox, and production failed open.

Every entry point defaulted to the sandbox settings, whose inbox publishes every one-time code
(anyone could sign in as any shopper), whose clock could be moved and whose webhooks could reach
private addresses; the production settings started on SQLite, a per-process cache, the filesystem
broker, the sandbox gateway and bureau and a sender that printed codes, and `check --deploy` said
0 issues. Now production is every entry point's default and refuses to start, naming each
variable at fault, until its real parts and secrets are configured; `check --deploy` reports the
same list for any settings module; sandbox features cannot be switched on under it.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap

import pytest
from django.test import Client

from bnpl.core import clock
from bnpl.core.models import ClockState
from bnpl.core.services import clock_advance
from bnpl.settings.requirements import production_problems
from tests.security.production_env import PROJECT_VARIABLES, ROOT, complete_production_env, manage

REQUIRED = [
    "SECRET_KEY",
    "API_KEY_HASH_SECRET",
    "ONE_TIME_CODE_HASH_SECRET",
    "CONSUMER_TOKEN_SECRET",
    "LAKE_PSEUDONYM_KEY",
    "METRICS_TOKEN",
    "FIELD_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "PUBLIC_BASE_URL",
    "DEFAULT_FROM_EMAIL",
    "PAYMENT_GATEWAY_LIVE",
    "BUREAU_PROVIDER_LIVE",
    "AWS_STORAGE_BUCKET_NAME",
    "LAKE_S3_BUCKET",
]


def _entry_point(code: str) -> subprocess.CompletedProcess[str]:
    """Python code run with nothing of the project's set: no settings module, no variables."""
    import os

    environment = {key: value for key, value in os.environ.items() if key not in PROJECT_VARIABLES}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "code",
    [
        "import bnpl.wsgi",
        "import bnpl.asgi",
        "from bnpl.celery import app; print(app.conf.broker_url)",
    ],
    ids=["wsgi", "asgi", "celery"],
)
def test_every_entry_point_defaults_to_production_and_refuses_to_start_unconfigured(code: str) -> None:
    result = _entry_point(code)

    assert result.returncode != 0
    assert "The production settings refuse to start" in result.stderr
    assert "DATABASE_URL" in result.stderr and "SECRET_KEY" in result.stderr


def test_manage_py_defaults_to_production() -> None:
    result = manage("check", env={}, settings_module=None)

    assert result.returncode != 0
    assert "The production settings refuse to start" in result.stderr


def test_check_deploy_names_each_missing_variable_when_only_the_secret_key_and_hosts_are_set() -> None:
    result = manage(
        "check", "--deploy", env={"SECRET_KEY": "s" * 20 + "0123456789" * 5, "ALLOWED_HOSTS": "pay.example.com"}
    )

    assert result.returncode != 0
    missing = [name for name in REQUIRED if f"  - {name}:" not in result.stderr]
    assert missing == ["SECRET_KEY"], result.stderr  # the one that was set
    assert "ALLOWED_HOSTS" not in result.stderr


def test_check_deploy_passes_clean_with_a_complete_production_environment() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=complete_production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "sqlite:////tmp/bnpl.sqlite3"),
        ("REPLICA_DATABASE_URL", "sqlite:////tmp/bnpl-replica.sqlite3"),
        ("REPLICA_MAX_LAG_SECONDS", "-1"),
        ("CACHE_URL", "locmemcache://bnpl"),
        ("CELERY_BROKER_URL", "filesystem://"),
        ("ONE_TIME_CODE_SENDER", "bnpl.notifications.SandboxSender"),
        ("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"),
        ("PAYMENT_GATEWAY_LIVE", ""),
        ("BUREAU_PROVIDER_LIVE", ""),
        ("PUBLIC_BASE_URL", "http://pay.example.com"),
        ("FIELD_ENCRYPTION_KEYS", "not-a-fernet-key"),
        ("ALLOWED_HOSTS", "*"),
        ("API_AUTH_FAILURES_PER_MINUTE", "0"),  # a limit turned off
        ("ONE_TIME_CODE_FAILED_VERIFY_PER_DAY", "-1"),
        ("DISPUTE_MAX_PER_ORDER", "0"),
        ("API_THROTTLE_RATE", "0/s"),
        ("ONE_TIME_CODE_RESEND_SECONDS", "0"),
    ],
)
def test_production_refuses_each_embedded_part(variable: str, value: str) -> None:
    result = manage("check", env={**complete_production_env(), variable: value})

    assert result.returncode != 0
    assert f"  - {variable}:" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYMENT_GATEWAY_LIVE", "bnpl.payments.gateways.SandboxGateway"),
        ("BUREAU_PROVIDER_LIVE", "decisioning.bureau.SandboxBureau"),
        ("STRIPE_LIVE_SECRET_KEY", "sk_test_" + "x" * 24),
        ("STRIPE_API_BASE", "http://127.0.0.1:8420"),
        ("BUREAU_HTTP_URL", "http://bureau.example.com/v1/reports"),
    ],
)
def test_production_refuses_live_mode_on_anything_but_real_parts(variable: str, value: str) -> None:
    """A live checkout once was approved with test card 4242: live mode on the sandbox."""
    result = manage("check", env={**complete_production_env(), variable: value})

    assert result.returncode != 0
    assert "Live mode is not served by real parts" in result.stderr and variable in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OPERATOR_TWO_FACTOR_REQUIRED", "false"),
        ("SIGN_IN_FAILURE_LIMIT", "0"),
        ("SIGN_IN_FAILURE_LIMIT", "1000"),
        ("SIGN_IN_LOCKOUT_MINUTES", "0"),
    ],
)
def test_production_refuses_to_open_the_admin_to_a_password_alone(variable: str, value: str) -> None:
    """Operators pass a second factor before any admin page; production cannot switch that off, nor
    make the sign-in lockout toothless."""
    result = manage("check", env={**complete_production_env(), variable: value})

    assert result.returncode != 0
    assert f"  - {variable}:" in result.stderr


def test_check_deploy_catches_a_settings_module_that_drops_the_sign_in_lockout_or_the_second_factor(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lax_settings.py").write_text(
        textwrap.dedent(
            """
            from bnpl.settings.production import *
            OPERATOR_TWO_FACTOR_REQUIRED = False
            AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
            MIDDLEWARE = [m for m in MIDDLEWARE if m != "django_otp.middleware.OTPMiddleware"]
            """
        )
    )
    environment = {**complete_production_env(), "PYTHONPATH": str(tmp_path)}

    result = manage("check", "--deploy", env=environment, settings_module="lax_settings")

    assert result.returncode != 0
    for variable in ("OPERATOR_TWO_FACTOR_REQUIRED", "AUTHENTICATION_BACKENDS", "MIDDLEWARE"):
        assert f"(bnpl.{variable})" in result.stderr, result.stderr


def test_production_keeps_the_second_factor_and_the_lockout_on_by_default() -> None:
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; "
        "print(s.OPERATOR_TWO_FACTOR_REQUIRED, s.MERCHANT_OWNER_TWO_FACTOR_REQUIRED,"
        " s.AUTHENTICATION_BACKENDS[0], s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)",
        env=complete_production_env(),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True True axes.backends.AxesStandaloneBackend 5 0:15:00"


def test_production_refuses_one_secret_for_two_purposes() -> None:
    environment = complete_production_env()
    environment["API_KEY_HASH_SECRET"] = environment["SECRET_KEY"]

    result = manage("check", env=environment)

    assert result.returncode != 0
    assert "API_KEY_HASH_SECRET: must not be the same secret as SECRET_KEY" in result.stderr


def test_sandbox_switches_in_the_environment_do_nothing_in_production() -> None:
    environment = {
        **complete_production_env(),
        "BNPL_SANDBOX": "true",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "DEBUG": "true",
    }

    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings as s; print(s.BNPL_SANDBOX, s.WEBHOOK_ALLOW_PRIVATE_TARGETS, s.DEBUG)",
        env=environment,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False False"


def test_check_deploy_catches_a_settings_module_that_turns_the_sandbox_back_on(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sneaky_settings.py").write_text(
        textwrap.dedent(
            """
            from bnpl.settings.production import *
            BNPL_SANDBOX = True
            WEBHOOK_ALLOW_PRIVATE_TARGETS = True
            ONE_TIME_CODE_SENDER = "bnpl.notifications.SandboxSender"
            """
        )
    )
    environment = {**complete_production_env(), "PYTHONPATH": str(tmp_path)}

    result = manage("check", "--deploy", env=environment, settings_module="sneaky_settings")

    assert result.returncode != 0
    for variable in ("BNPL_SANDBOX", "WEBHOOK_ALLOW_PRIVATE_TARGETS", "ONE_TIME_CODE_SENDER"):
        assert f"(bnpl.{variable})" in result.stderr


def test_the_requirements_hold_the_demo_settings_to_account() -> None:
    """The demo runs on purpose with what production refuses; the same list says so."""
    from django.conf import settings

    problems = production_problems(lambda name: getattr(settings, name, None))

    assert any(problem.startswith("BNPL_SANDBOX:") for problem in problems)
    assert any(problem.startswith("ONE_TIME_CODE_SENDER:") for problem in problems)


@pytest.mark.django_db
def test_outside_the_sandbox_the_inbox_is_gone_and_the_clock_ignores_a_stored_offset(settings) -> None:  # type: ignore[no-untyped-def]
    ClockState.objects.update_or_create(pk=ClockState.SINGLETON_ID, defaults={"offset_seconds": 30 * 86400})
    clock.forget_cached_offset()
    settings.BNPL_SANDBOX = False

    assert Client().get("/sandbox/inbox").status_code == 404
    assert abs(clock.now() - clock.real_now()) < dt.timedelta(seconds=5)
    with pytest.raises(Exception, match="sandbox"):
        clock_advance(by=dt.timedelta(days=1))


def test_env_example_documents_the_complete_production_environment() -> None:
    text = (ROOT / ".env.example").read_text()
    block = text[text.index("# --- Required in production") : text.index("# --- End of the required block")]
    documented = {line[2:].split("=", 1)[0] for line in block.splitlines() if line.startswith("# ") and "=" in line}
    documented = {name for name in documented if name.isupper()}

    assert documented == set(complete_production_env())
