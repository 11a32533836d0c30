"""Operators' admin for model versions: read-only list with status and AUC, audited actions."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from bnpl.core.models import AuditLogEntry
from decisioning import registry
from decisioning.models import ModelVersion
from decisioning.training import TrainedModel
from tests.bnpl.accounts.factories import make_user
from tests.helpers import verified_client

CHANGELIST = "/admin/decisioning/modelversion/"


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    verified_client(make_user(email="risk@lender.example", is_staff=True, is_superuser=True), client=client)
    return client


def test_list_shows_status_and_auc(admin_client: Client, media_root: Path, trained_model: TrainedModel) -> None:
    version = registry.register_model(name="credit", trained=trained_model)

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    assert version.public_id in response.content.decode()
    assert f"{trained_model.metrics['auc']:.4f}" in response.content.decode()
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403


def test_actions_promote_and_roll_back_as_the_operator(
    admin_client: Client, media_root: Path, trained_model: TrainedModel
) -> None:
    first = registry.register_model(name="credit", trained=trained_model)
    second = registry.register_model(name="credit", trained=trained_model)

    for version in (first, second):
        admin_client.post(CHANGELIST, {"action": "promote_to_champion", "_selected_action": [version.pk]})
    admin_client.post(CHANGELIST, {"action": "rollback", "_selected_action": [second.pk]})

    assert dict(ModelVersion.objects.values_list("version", "status")) == {1: "champion", 2: "retired"}
    rollback = AuditLogEntry.objects.get(action="model_version.rolled_back")
    assert (rollback.object_id, rollback.actor_identifier) == (first.public_id, "risk@lender.example")
