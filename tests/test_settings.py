"""Settings come from the environment in one place. (Production's refusals are shown in
tests/security/test_production_fails_closed.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The variables CI sets for the suite itself; each test here states its own.
PROJECT_VARIABLES = {
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests' setting for their own process, never a deployment's
    "LAKE_PSEUDONYM_KEY",
}


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in PROJECT_VARIABLES}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def _print_setting(expression: str, env: dict[str, str]) -> str:
    result = _run("shell", "--no-imports", "-c", f"from django.conf import settings; print({expression})", env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_sqlite_under_var_by_default_and_postgresql_from_database_url() -> None:
    env = {"DJANGO_SETTINGS_MODULE": "bnpl.settings.demo"}
    assert _print_setting("settings.DATABASES['default']['NAME']", env) == str(ROOT / "var" / "bnpl.sqlite3")
    postgres = {**env, "DATABASE_URL": "postgres://bnpl:pw@db.internal:5433/lending"}
    assert _print_setting("settings.DATABASES['default']['ENGINE']", postgres) == "django.db.backends.postgresql"
    assert (
        _print_setting("settings.DATABASES['default']['NAME'], settings.DATABASES['default']['PORT']", postgres)
        == "lending 5433"
    )


def test_the_broker_is_embedded_by_default_and_read_from_the_environment() -> None:
    env = {"DJANGO_SETTINGS_MODULE": "bnpl.settings.demo"}
    assert _print_setting("settings.CELERY_BROKER_URL", env) == "filesystem://"
    assert (
        _print_setting("settings.CELERY_BROKER_URL", {**env, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"})
        == "redis://127.0.0.1:6379/3"
    )


def test_env_example_lists_every_variable_the_settings_read() -> None:
    import re

    read = set()
    for settings_file in (ROOT / "bnpl" / "settings").glob("*.py"):
        read |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', settings_file.read_text()))
    listed = set(re.findall(r"^(?:# )?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read, "no env reads found: the pattern is stale"
    assert read - listed == set()
