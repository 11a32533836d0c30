"""deploy/compose/docker-compose.yml against the production settings: every process of the image is
given every variable production requires (the list tests/security/production_env.py keeps in step
with .env.example and bnpl/settings/requirements.py), and production's own checks pass on those
values, so the stack and the settings cannot drift apart. (`make lint` validates the file's syntax
with docker-compose config.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

from tests.security.production_env import complete_production_env, manage

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker-urgent", "worker-batch", "beat")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def _environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in service["environment"].items()}


def test_the_stack_has_every_part(services: dict[str, Any]) -> None:
    assert {"postgres", "redis", "minio", "buckets", "mailpit", *APP_SERVICES} <= set(services)
    for name in APP_SERVICES:
        assert services[name]["image"] == "bnpl:local"
        assert services[name]["build"]["context"] == "../.."
    assert [services[name]["command"][0] for name in APP_SERVICES] == ["migrate", "web", "worker", "worker", "beat"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_process_gets_every_variable_production_requires(services: dict[str, Any], name: str) -> None:
    environment = _environment(services[name])
    missing = sorted(set(complete_production_env()) - set(environment))
    assert not missing, f"{name} lacks {missing}"
    assert environment["DJANGO_SETTINGS_MODULE"] == "bnpl.settings.production"


def test_production_accepts_the_stacks_environment() -> None:
    """The settings' own checks on compose's values: the production settings load (no variable at
    fault, bnpl/settings/requirements.py) and check --deploy finds no error (the live parts
    included). Its warnings are the local stack's plain HTTP, stated in the file."""
    environment = _environment(yaml.safe_load(COMPOSE.read_text())["services"]["web"])
    result = manage("check", "--deploy", env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    flagged = set(re.findall(r"\(([a-z_]+\.[EW]\d+)\)", output))
    # Only the local stack's plain HTTP, stated in the file: no redirect to HTTPS, no HSTS.
    assert flagged == {"security.W004", "security.W008"}, output


def test_workers_consume_every_queue_and_beat_runs_once(services: dict[str, Any]) -> None:
    consumed: set[str] = set()
    for service in services.values():
        if service.get("command", [None])[0] == "worker":
            consumed |= set(_environment(service)["CELERY_QUEUES"].split(","))
    assert consumed == set(settings.CELERY_QUEUE_NAMES)
    assert [name for name, service in services.items() if service.get("command", [None])[0] == "beat"] == ["beat"]
    assert "replicas" not in str(services["beat"].get("deploy", {}))


def test_the_processes_wait_for_healthy_parts_and_the_migration(services: dict[str, Any]) -> None:
    for name in ("web", "worker-urgent", "worker-batch", "beat"):
        dependencies = services[name]["depends_on"]
        assert dependencies["migrate"]["condition"] == "service_completed_successfully"
        for part in ("postgres", "redis", "minio"):
            assert dependencies[part]["condition"] == "service_healthy"
            assert "healthcheck" in services[part]
