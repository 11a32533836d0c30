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
    "DATABASE_TEST_TEMPLATE",
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


def test_test_databases_are_copied_from_a_migrated_template_only_when_one_is_named() -> None:
    postgres = {"DJANGO_SETTINGS_MODULE": "bnpl.settings.test", "DATABASE_URL": "postgres://postgres@db.internal/bnpl"}
    assert _print_setting("settings.DATABASES['default'].get('TEST', {}).get('TEMPLATE')", postgres) == "None"
    named = {**postgres, "DATABASE_TEST_TEMPLATE": "bnpl_ci_template"}
    assert _print_setting("settings.DATABASES['default']['TEST']['TEMPLATE']", named) == "bnpl_ci_template"
    sqlite = {"DJANGO_SETTINGS_MODULE": "bnpl.settings.test", "DATABASE_TEST_TEMPLATE": "bnpl_ci_template"}
    assert _print_setting("settings.DATABASES['default']['TEST'].get('TEMPLATE')", sqlite) == "None"


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


def test_the_demo_runs_with_debug_off_and_serves_static_files_through_whitenoise(tmp_path: Path) -> None:
    """`make demo` never shows Django's debug pages: DEBUG is off, the files collectstatic wrote are
    served by WhiteNoise from the web process (runserver serves none with DEBUG off), and a missing
    page is the product's own 404."""
    env = {
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.demo",
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    }
    collected = _run("collectstatic", "--noinput", "--verbosity", "0", env=env)
    assert collected.returncode == 0, collected.stderr
    assert (tmp_path / "static" / "css" / "site.css").is_file()
    script = (
        "from django.conf import settings; from django.test import Client\n"
        "print(settings.DEBUG, 'whitenoise.middleware.WhiteNoiseMiddleware' in settings.MIDDLEWARE)\n"
        "client = Client()\n"
        "css, missing = client.get('/static/css/site.css'), client.get('/no-such-page')\n"
        "print(css.status_code, type(css).__module__, css.headers['Content-Type'].split(';')[0])\n"
        "page = missing.content.decode()\n"
        "print(missing.status_code, 'We could not find that page' in page, 'Page not found' in page)\n"
    )
    result = _run("shell", "--no-imports", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    served = result.stdout.strip()
    assert served.splitlines() == ["False True", "200 whitenoise.middleware text/css", "404 True False"]


def test_production_serves_hashed_compressed_static_files_through_whitenoise() -> None:
    from tests.security.production_env import complete_production_env

    env = {**complete_production_env(), "DJANGO_SETTINGS_MODULE": "bnpl.settings.production"}
    assert _print_setting(
        "settings.STORAGES['staticfiles']['BACKEND'], "
        "settings.MIDDLEWARE[settings.MIDDLEWARE.index('django.middleware.security.SecurityMiddleware') + 1], "
        "settings.CSRF_FAILURE_VIEW",
        env,
    ) == (
        "whitenoise.storage.CompressedManifestStaticFilesStorage whitenoise.middleware.WhiteNoiseMiddleware "
        "bnpl.core.views.csrf_failure"
    )
