"""Monitoring: the PSI of live scores against the training deciles, approvals by UTC day, adverse
impact by age band, and the command and admin page that show them."""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client

from consumers.models import Consumer
from decisioning import registry
from decisioning.models import CreditDecision, ModelVersion
from decisioning.monitoring import (
    PSI_EMPTY_BIN_PROPORTION,
    ApprovedAmounts,
    BandRow,
    DayRow,
    adverse_impact_by_age_band,
    age_band,
    approval_by_day,
    bin_counts,
    population_stability_index,
    psi_band,
    score_psi,
)
from decisioning.training import TrainedModel
from tests.bnpl.accounts.factories import make_user
from tests.consumers.factories import make_consumer, make_verified_consumer
from tests.helpers import verified_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db
UTC = dt.UTC
APPROVED, DECLINED = CreditDecision.Outcome.APPROVED, CreditDecision.Outcome.DECLINED
MONITORING = "/admin/decisioning/modelversion/monitoring/"
EPSILON = PSI_EMPTY_BIN_PROPORTION


@pytest.fixture
def champion(media_root: Path, trained_model: TrainedModel) -> ModelVersion:
    version = registry.register_model(name="credit", trained=trained_model)
    return registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION)


def _decide(
    tenant: Tenant,
    consumer: Consumer,
    outcome: str,
    *,
    amount: int = 10000,
    currency: str = "USD",
    livemode: bool = False,
    created_at: dt.datetime | None = None,
    model_version: ModelVersion | None = None,
    score: float | None = None,
    challenger_version: ModelVersion | None = None,
    challenger_score: float | None = None,
) -> CreditDecision:
    extra = {} if created_at is None else {"created_at": created_at}
    return CreditDecision.objects.create(
        consumer=consumer,
        merchant=tenant.merchant,
        livemode=livemode,
        product_kind="pay_in_4",
        amount=amount,
        currency=currency,
        outcome=outcome,
        policy_version="test",
        model_version=model_version,
        score=score,
        challenger_version=challenger_version,
        challenger_score=challenger_score,
        **extra,
    )


# --- PSI arithmetic ----------------------------------------------------------------------------


def test_identical_distributions_have_a_psi_of_zero() -> None:
    assert population_stability_index([10, 20, 30, 40], [10, 20, 30, 40]) == 0.0
    assert population_stability_index([10, 20, 30, 40], [1, 2, 3, 4]) == 0.0  # proportions, not counts
    assert population_stability_index([5, 0, 5], [7, 0, 7]) == 0.0  # empty on both sides adds nothing


def test_psi_of_a_small_example_worked_by_hand() -> None:
    # e = (0.5, 0.5), a = (0.25, 0.75): (0.25-0.5)·ln(0.5) + (0.75-0.5)·ln(1.5) = 0.25·ln 3
    value = population_stability_index([50, 50], [25, 75])

    assert value == pytest.approx(0.25 * math.log(3), abs=1e-15)
    assert round(value, 6) == 0.274653
    assert psi_band(value) == "shifted"


def test_an_empty_bin_counts_as_the_epsilon_proportion() -> None:
    # e = (0.5, 0.5), a = (1, 0 → 1e-4): (1-0.5)·ln 2 + (1e-4-0.5)·ln(1e-4/0.5)
    value = population_stability_index([1, 1], [2, 0])

    assert value == pytest.approx(0.5 * math.log(2) + (EPSILON - 0.5) * math.log(EPSILON / 0.5), abs=1e-12)
    assert round(value, 6) == 4.604318


def test_psi_refuses_counts_it_cannot_compare() -> None:
    for expected, actual in (([1, 2], [1, 2, 3]), ([], []), ([0, 0], [1, 1]), ([1, 1], [0, 0]), ([1, -1], [1, 1])):
        with pytest.raises(ValueError):
            population_stability_index(expected, actual)


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.0999, "stable"), (0.1, "investigate"), (0.25, "investigate"), (0.2501, "shifted")],
)
def test_psi_bands(value: float, band: str) -> None:
    assert psi_band(value) == band


def test_bins_follow_the_training_convention() -> None:
    # bin i holds edges[i-1] < score <= edges[i], like numpy.searchsorted(side="left")
    assert bin_counts([0.1, 0.2, 0.2000001, 0.5, 0.9], [0.2, 0.5]) == [2, 2, 1]


# --- score_psi -------------------------------------------------------------------------------------


def test_score_psi_bins_the_versions_live_scores_against_its_training_deciles(
    tenant: Tenant, champion: ModelVersion, trained_model: TrainedModel
) -> None:
    edges = champion.score_distribution["edges"]
    training_counts = champion.score_distribution["counts"]
    assert (edges, training_counts) == (
        trained_model.score_distribution["edges"],
        trained_model.score_distribution["counts"],
    )
    consumer = make_consumer()
    since, until = dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 3, 8, tzinfo=UTC)
    inside = dt.datetime(2025, 3, 4, 12, tzinfo=UTC)
    below_first_edge = edges[0] - 0.01
    above_last_edge = edges[-1] + 0.01
    for score in (below_first_edge, edges[0], above_last_edge):  # bins 0, 0 and 9
        _decide(tenant, consumer, APPROVED, created_at=inside, model_version=champion, score=score)
    _decide(tenant, consumer, APPROVED, created_at=inside, challenger_version=champion, challenger_score=edges[-1])
    _decide(tenant, consumer, DECLINED, created_at=until, model_version=champion, score=edges[0])  # window is open
    _decide(tenant, consumer, DECLINED, created_at=inside, model_version=champion)  # not scored

    report = score_psi(model_version=champion, since=since, until=until)

    last_edge_bin = edges.index(edges[-1])  # the first bin whose upper edge is the last cut point
    expected_actual = [0] * 10
    expected_actual[0], expected_actual[9], expected_actual[last_edge_bin] = 2, 1, 1
    assert list(report.actual_counts) == expected_actual
    assert report.live_count == 4
    assert list(report.expected_counts) == training_counts
    expected_total = sum(training_counts)
    by_hand = 0.0
    for expected_count, actual_count in zip(training_counts, expected_actual, strict=True):
        if expected_count == actual_count == 0:
            continue
        e = expected_count / expected_total or EPSILON
        a = actual_count / 4 or EPSILON
        by_hand += (a - e) * math.log(a / e)
    assert report.value == pytest.approx(by_hand, abs=1e-12)
    assert report.band == "shifted"
    assert (report.model_version_id, report.label) == (champion.public_id, "credit v1 (champion)")


def test_score_psi_without_live_scores_has_no_value(tenant: Tenant, champion: ModelVersion) -> None:
    report = score_psi(
        model_version=champion, since=dt.datetime(2025, 3, 1, tzinfo=UTC), until=dt.datetime(2025, 3, 2, tzinfo=UTC)
    )

    assert (report.value, report.band, report.live_count) == (None, None, 0)


def test_score_psi_of_a_live_sample_matching_training_is_stable(tenant: Tenant, champion: ModelVersion) -> None:
    champion.score_distribution = {"edges": [0.1, 0.2, 0.3], "counts": [100, 200, 300, 400]}
    champion.save(update_fields=["score_distribution"])
    consumer = make_consumer()
    at = dt.datetime(2025, 3, 1, 12, tzinfo=UTC)
    for score, copies in ((0.05, 1), (0.15, 2), (0.3, 3), (0.9, 4)):
        for _ in range(copies):
            _decide(tenant, consumer, APPROVED, created_at=at, model_version=champion, score=score)

    report = score_psi(model_version=champion, since=at, until=at + dt.timedelta(hours=1))

    assert (report.actual_counts, report.value, report.band) == ((1, 2, 3, 4), 0.0, "stable")
    assert score_psi(model_version=champion, since=at, until=at + dt.timedelta(hours=1), livemode=True).value is None


# --- approval_by_day -------------------------------------------------------------------------


def test_approval_by_day_counts_each_utc_day(tenant: Tenant) -> None:
    consumer = make_consumer()
    with time_machine.travel(dt.datetime(2025, 3, 1, 10, tzinfo=UTC), tick=False) as traveller:
        _decide(tenant, consumer, APPROVED, amount=10000)
        _decide(tenant, consumer, DECLINED, amount=90000)
        _decide(tenant, consumer, APPROVED, amount=7000, livemode=True)  # the other mode
        traveller.move_to(dt.datetime(2025, 3, 1, 23, 59, 59, tzinfo=UTC))
        _decide(tenant, consumer, APPROVED, amount=5001)
        traveller.move_to(dt.datetime(2025, 3, 2, 0, 0, tzinfo=UTC))
        _decide(tenant, consumer, APPROVED, amount=2000, currency="EUR")
        _decide(tenant, consumer, APPROVED, amount=3001)
        _decide(tenant, consumer, DECLINED, amount=4000)
        traveller.move_to(dt.datetime(2025, 3, 4, 0, 0, tzinfo=UTC))
        _decide(tenant, consumer, APPROVED, amount=1)  # after the window

    rows = approval_by_day(
        since=dt.datetime(2025, 3, 1, tzinfo=UTC), until=dt.datetime(2025, 3, 4, tzinfo=UTC), livemode=False
    )

    assert rows == [
        DayRow(
            day=dt.date(2025, 3, 1),
            decisions=3,
            approved=2,
            approval_rate=2 / 3,
            amounts=(ApprovedAmounts(currency="USD", approved=2, total_amount=15001, average_amount=7501),),
        ),
        DayRow(
            day=dt.date(2025, 3, 2),
            decisions=3,
            approved=2,
            approval_rate=2 / 3,
            amounts=(
                ApprovedAmounts(currency="EUR", approved=1, total_amount=2000, average_amount=2000),
                ApprovedAmounts(currency="USD", approved=1, total_amount=3001, average_amount=3001),
            ),
        ),
        DayRow(day=dt.date(2025, 3, 3), decisions=0, approved=0, approval_rate=None, amounts=()),
    ]
    live = approval_by_day(
        since=dt.datetime(2025, 3, 1, tzinfo=UTC), until=dt.datetime(2025, 3, 2, tzinfo=UTC), livemode=True
    )
    assert live == [
        DayRow(
            day=dt.date(2025, 3, 1),
            decisions=1,
            approved=1,
            approval_rate=1.0,
            amounts=(ApprovedAmounts(currency="USD", approved=1, total_amount=7000, average_amount=7000),),
        )
    ]


# --- adverse impact by age band ----------------------------------------------------------------


def test_age_bands_use_the_age_on_the_decision_date() -> None:
    day = dt.date(2025, 6, 15)
    assert age_band(date_of_birth=dt.date(2000, 6, 16), day=day) == "18-24"  # 24, birthday tomorrow
    assert age_band(date_of_birth=dt.date(2000, 6, 15), day=day) == "25-34"  # 25 today
    assert age_band(date_of_birth=dt.date(1960, 6, 15), day=day) == "65+"
    assert age_band(date_of_birth=dt.date(2008, 6, 16), day=day) == "under 18"
    assert age_band(date_of_birth=None, day=day) == "unknown"


def test_adverse_impact_ratio_against_the_most_approved_known_band(tenant: Tenant) -> None:
    at = dt.datetime(2025, 6, 15, 12, tzinfo=UTC)
    aged_24 = make_verified_consumer(born=dt.date(2000, 6, 16))
    aged_25 = make_verified_consumer(born=dt.date(2000, 6, 15))
    aged_40 = make_verified_consumer(born=dt.date(1985, 1, 1))
    no_identity = make_consumer()
    for consumer, outcomes in (
        (aged_24, [APPROVED, APPROVED, DECLINED]),  # 2/3
        (aged_25, [APPROVED] * 4 + [DECLINED]),  # 4/5: the highest known band
        (aged_40, [APPROVED] * 3 + [DECLINED] * 2),  # 3/5
        (no_identity, [APPROVED]),  # 1/1, but unknown never sets the bar
    ):
        for outcome in outcomes:
            _decide(tenant, consumer, outcome, created_at=at)
    _decide(tenant, aged_40, DECLINED, created_at=at, livemode=True)  # the other mode
    _decide(tenant, aged_40, DECLINED, created_at=at + dt.timedelta(days=1))  # after the window

    rows = adverse_impact_by_age_band(since=at - dt.timedelta(days=1), until=at + dt.timedelta(hours=1), livemode=False)

    assert [(row.band, row.decisions, row.approved, row.is_flagged) for row in rows] == [
        ("18-24", 3, 2, False),
        ("25-34", 5, 4, False),
        ("35-44", 5, 3, True),
        ("45-54", 0, 0, False),
        ("55-64", 0, 0, False),
        ("65+", 0, 0, False),
        ("unknown", 1, 1, False),
    ]
    by_band = {row.band: row for row in rows}
    assert by_band["25-34"] == BandRow(
        band="25-34", decisions=5, approved=4, approval_rate=0.8, adverse_impact_ratio=1.0, is_flagged=False
    )
    assert by_band["18-24"].adverse_impact_ratio == pytest.approx(5 / 6, abs=1e-15)  # (2/3) / (4/5)
    assert by_band["35-44"].adverse_impact_ratio == pytest.approx(0.75, abs=1e-15)  # (3/5) / (4/5)
    assert by_band["unknown"].adverse_impact_ratio == pytest.approx(1.25, abs=1e-15)
    assert (by_band["65+"].approval_rate, by_band["65+"].adverse_impact_ratio) == (None, None)


def test_a_ratio_of_exactly_0_8_is_not_flagged(tenant: Tenant) -> None:
    at = dt.datetime(2025, 6, 15, 12, tzinfo=UTC)
    for born, outcomes in (
        (dt.date(1995, 1, 1), [APPROVED, APPROVED]),  # 30: 1.0
        (dt.date(1970, 1, 1), [APPROVED] * 4 + [DECLINED]),  # 55: 0.8
        (dt.date(1950, 1, 1), [APPROVED] * 3 + [DECLINED]),  # 75: 0.75
    ):
        consumer = make_verified_consumer(born=born)
        for outcome in outcomes:
            _decide(tenant, consumer, outcome, created_at=at)

    rows = adverse_impact_by_age_band(since=at, until=at + dt.timedelta(seconds=1), livemode=False)

    by_band = {row.band: (row.adverse_impact_ratio, row.is_flagged) for row in rows}
    assert by_band["25-34"] == (1.0, False)
    assert by_band["55-64"] == (0.8, False)
    assert by_band["65+"] == (0.75, True)


# --- the command and the admin page --------------------------------------------------------------


def _table_row(output: str, first_cell: str) -> list[str]:
    return next(line.split("  ") for line in output.splitlines() if line.startswith(first_cell + " "))


def test_the_command_prints_the_three_reports(tenant: Tenant, champion: ModelVersion) -> None:
    edges = champion.score_distribution["edges"]
    with time_machine.travel(dt.datetime(2025, 6, 15, 11, tzinfo=UTC), tick=False) as traveller:
        aged_30 = make_verified_consumer(born=dt.date(1995, 1, 1))
        _decide(tenant, aged_30, APPROVED, amount=12345, model_version=champion, score=edges[0])
        _decide(tenant, aged_30, DECLINED, amount=500, model_version=champion, score=edges[-1] + 0.01)
        traveller.move_to(dt.datetime(2025, 6, 15, 12, tzinfo=UTC))
        out = io.StringIO()

        call_command("model_monitor", "--days", "1", "--sandbox", stdout=out)

    output = out.getvalue()
    assert output.splitlines()[0] == (
        "Model monitoring: credit, sandbox decisions, 2025-06-14 12:00 to 2025-06-15 12:00 UTC"
    )
    psi_row = [cell.strip() for cell in _table_row(output, "credit v1 (champion)") if cell.strip()]
    psi = score_psi(
        model_version=champion,
        since=dt.datetime(2025, 6, 14, 12, tzinfo=UTC),
        until=dt.datetime(2025, 6, 15, 12, tzinfo=UTC),
    )
    assert psi_row == ["credit v1 (champion)", champion.public_id, "2", f"{psi.value:.3f}", "shifted"]
    assert [cell.strip() for cell in _table_row(output, "2025-06-15") if cell.strip()] == [
        "2025-06-15",
        "2",
        "1",
        "50.0%",
        "USD 12345 / 12345",
    ]
    assert [cell.strip() for cell in _table_row(output, "2025-06-14") if cell.strip()] == [
        "2025-06-14",
        "0",
        "0",
        "—",
        "—",
    ]
    assert [cell.strip() for cell in _table_row(output, "25-34") if cell.strip()] == [
        "25-34",
        "2",
        "1",
        "50.0%",
        "1.000",
    ]
    assert [cell.strip() for cell in _table_row(output, "unknown") if cell.strip()] == ["unknown", "0", "0", "—", "—"]


def test_the_command_without_a_model_in_service_still_reports_decisions(db: None) -> None:
    out = io.StringIO()

    call_command("model_monitor", "--name", "nothing", stdout=out)

    assert "No champion or challenger named 'nothing' is in service." in out.getvalue()
    assert "Adverse impact by age band" in out.getvalue()
    with pytest.raises(CommandError, match="--days must be at least 1"):
        call_command("model_monitor", "--days", "0")


def test_the_admin_page_shows_the_reports_to_a_superuser(tenant: Tenant, champion: ModelVersion) -> None:
    consumer = make_verified_consumer(born=dt.date(1995, 1, 1))
    _decide(tenant, consumer, APPROVED, amount=12345, model_version=champion, score=0.01)
    client = Client()
    verified_client(make_user(email="risk@lender.example", is_staff=True, is_superuser=True), client=client)

    changelist = client.get("/admin/decisioning/modelversion/")
    response = client.get(MONITORING, {"mode": "sandbox"})

    assert f'href="{MONITORING}"' in changelist.content.decode()
    assert response.status_code == 200
    page = response.content.decode()
    assert "Population stability index" in page
    assert champion.public_id in page
    assert "USD 12345 / 12345" in page
    assert "<td>25-34</td><td>1</td><td>1</td>" in page
    assert response.context["report"].livemode is False


def test_the_admin_page_refuses_non_staff_and_staff_without_view_permission(db: None) -> None:
    client = Client()
    client.force_login(make_user(is_staff=False))
    assert client.get(MONITORING).status_code == 302  # to the admin login

    staff = make_user(is_staff=True)
    verified_client(staff, client=client)
    assert client.get(MONITORING).status_code == 403

    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_modelversion", "view_creditdecision"]))
    verified_client(staff, client=client)
    assert client.get(MONITORING).status_code == 200
