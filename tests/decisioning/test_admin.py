"""Operators' admin for model versions: read-only list with status and AUC, audited actions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import Client

from bnpl.core.models import AuditLogEntry
from decisioning import registry
from decisioning.models import CreditDecision, ModelVersion
from decisioning.training import TrainedModel
from tests.bnpl.accounts.factories import make_user
from tests.consumers.factories import make_verified_consumer
from tests.helpers import verified_client
from tests.merchants.factories import Tenant

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


def test_a_decisions_reasons_and_features_read_as_tables(admin_client: Client, tenant: Tenant) -> None:
    decision = CreditDecision.objects.create(
        consumer=make_verified_consumer(),
        merchant=tenant.merchant,
        product_kind="pay_in_4",
        amount=12_000,
        currency="USD",
        outcome=CreditDecision.Outcome.DECLINED,
        reasons=[
            {"code": "thin_file", "text": "Little credit history on file."},
            {"code": "recent_delinquency", "text": "A recent missed payment <elsewhere>."},
        ],
        features={"bureau_score": 612, "utilisation": 0.4375, "verified": True, "income": None},
        policy_version="test",
    )

    html = admin_client.get(f"/admin/decisioning/creditdecision/{decision.pk}/change/").content.decode()

    reasons = re.search(
        r'<table class="json-table"><thead><tr><th scope="col">Code</th><th scope="col">Text</th></tr></thead>'
        r"(.*?)</table>",
        html,
        re.S,
    )
    assert reasons is not None
    assert "<td>thin_file</td><td>Little credit history on file.</td>" in reasons.group(1)
    assert "A recent missed payment &lt;elsewhere&gt;." in reasons.group(1)  # escaped
    assert '<tr><th scope="row">Bureau score</th><td>612</td></tr>' in html
    assert '<tr><th scope="row">Utilisation</th><td>0.4375</td></tr>' in html
    assert '<tr><th scope="row">Income</th><td><span class="quiet">unknown</span></td></tr>' in html
    assert "&quot;code&quot;" not in html and "{&quot;bureau_score" not in html  # no JSON
