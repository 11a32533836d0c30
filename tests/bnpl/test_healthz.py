"""``/healthz`` (alive: answers without touching a dependency) and ``/readyz`` (ready: database,
cache, broker and the credit model's champion), each against real parts; a part made to fail points
at a port nothing listens on, never at the shared services stopped."""

from typing import Any

import pytest
from django.test import Client
from kombu import Connection

from bnpl.celery import app
from decisioning import scoring
from decisioning.models import ModelVersion
from tests.decisioning.conftest import champion, credit_model  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture(autouse=True)
def _no_model_loaded() -> Any:
    scoring.forget_loaded()
    yield
    scoring.forget_loaded()


def _dead_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real connection attempt to a port nothing listens on.
    monkeypatch.setattr(app, "connection_for_write", lambda: Connection(DEAD_REDIS, connect_timeout=1))


def test_healthz_answers_without_touching_the_dependencies(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    _dead_broker(monkeypatch)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": DEAD_REDIS}}
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "checks" not in response.json()


def test_readyz_reports_every_part(settings: Any, champion: ModelVersion) -> None:  # noqa: F811
    settings.CREDIT_MODEL_REQUIRED = True
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "model"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["model"]["champion"] == champion.public_id


def test_readyz_is_503_when_the_broker_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    _dead_broker(monkeypatch)
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_readyz_is_503_when_the_cache_is_unreachable(settings: Any) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"]["ok"] is False
    assert checks["cache"]["error"]
    assert checks["database"]["ok"] is True


def test_readyz_is_503_without_a_champion_when_the_model_is_required(settings: Any) -> None:
    settings.CREDIT_MODEL_REQUIRED = True  # production's default
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["model"] == {"ok": False, "required": True, "champion": None}


def test_readyz_without_a_champion_is_ready_when_the_rules_may_decide_alone(settings: Any) -> None:
    settings.CREDIT_MODEL_REQUIRED = False
    response = Client().get("/readyz")
    assert response.json()["checks"]["model"] == {"ok": True, "required": False, "champion": None}


def test_readyz_is_503_when_the_champions_artifact_is_missing(
    settings: Any,
    champion: ModelVersion,  # noqa: F811
) -> None:
    from django.core.files.storage import default_storage

    default_storage.delete(champion.artifact_path)
    response = Client().get("/readyz")
    assert response.status_code == 503
    model = response.json()["checks"]["model"]
    assert model["ok"] is False
    assert "cannot be read" in model["error"]
