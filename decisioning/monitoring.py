"""Monitoring the credit model and its decisions: read-only reports for operators.

- **Score stability**: the population stability index (PSI) of the live scores of one model version
  against that version's training score deciles (``ModelVersion.score_distribution``), with the usual
  bands: below 0.1 stable, 0.1 to 0.25 investigate, above 0.25 shifted.
- **Approval rate and limit by day**: per UTC day, how many decisions, how many approved, and the
  approved amounts ("limit" here means the amount approved at decision time, in minor units, per
  currency; a decision carries no separate credit line).
- **Adverse impact by age band**: approval rate per age band and its ratio to the most-approved
  band; below 0.8 is flagged for review. Age comes from ``Identity.date_of_birth`` at the decision
  date and is used *only* in this fairness report: it is never a model or policy input.

The PSI arithmetic is pure; the selectors read ``CreditDecision`` rows across every merchant, which is
why they are operator-only (the ``model_monitor`` command and a staff admin page), never partner-facing.
All windows are half-open, ``since <= created_at < until``, in aware UTC from ``bnpl.core.clock``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from bnpl.core import clock
from bnpl.core.replica import reporting_reads
from decisioning.models import CreditDecision, ModelVersion

PsiBand = Literal["stable", "investigate", "shifted"]

# A bin with no rows gets this proportion instead of 0, so ln(a/e) stays finite (and an empty bin
# on one side only still adds a large, visible term to the index).
PSI_EMPTY_BIN_PROPORTION = 1e-4
PSI_STABLE_BELOW = 0.1
PSI_SHIFTED_ABOVE = 0.25
ADVERSE_IMPACT_FLAG_BELOW = 0.8
DEFAULT_WINDOW_DAYS = 30

# (lowest age, label), ascending; an age belongs to the last band whose lowest age it reaches.
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (18, "18-24"),
    (25, "25-34"),
    (35, "35-44"),
    (45, "45-54"),
    (55, "55-64"),
    (65, "65+"),
)
UNDER_AGE_BAND = "under 18"  # should not exist (identity_submit does not check a minimum age); shown if it does
UNKNOWN_AGE_BAND = "unknown"  # no identity on file


# --- Population stability index ------------------------------------------------------------------


def population_stability_index(expected_counts: Sequence[int], actual_counts: Sequence[int]) -> float:
    """PSI = sum over bins of (a - e) * ln(a / e), where a and e are each bin's share of the actual
    and expected totals. A bin empty on one side counts as ``PSI_EMPTY_BIN_PROPORTION`` (1e-4) there;
    a bin empty on both sides adds nothing. Identical distributions give exactly 0."""
    if len(expected_counts) != len(actual_counts) or not expected_counts:
        raise ValueError("expected and actual counts need the same, non-zero number of bins")
    if any(count < 0 for count in (*expected_counts, *actual_counts)):
        raise ValueError("counts cannot be negative")
    expected_total, actual_total = sum(expected_counts), sum(actual_counts)
    if expected_total == 0 or actual_total == 0:
        raise ValueError("both distributions need at least one row")
    index = 0.0
    for expected_count, actual_count in zip(expected_counts, actual_counts, strict=True):
        if expected_count == 0 and actual_count == 0:
            continue
        expected = expected_count / expected_total or PSI_EMPTY_BIN_PROPORTION
        actual = actual_count / actual_total or PSI_EMPTY_BIN_PROPORTION
        index += (actual - expected) * math.log(actual / expected)
    return index


def psi_band(value: float) -> PsiBand:
    """Below 0.1 stable; 0.1 up to and including 0.25 investigate; above 0.25 shifted."""
    if value < PSI_STABLE_BELOW:
        return "stable"
    if value <= PSI_SHIFTED_ABOVE:
        return "investigate"
    return "shifted"


def bin_counts(scores: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin with the training convention: bin i holds edges[i-1] < score <= edges[i]
    (``numpy.searchsorted(side="left")``), so len(edges) + 1 bins."""
    counts = [0] * (len(edges) + 1)
    for score in scores:
        counts[bisect.bisect_left(edges, score)] += 1
    return counts


@dataclass(frozen=True)
class PsiReport:
    model_version_id: str  # public id
    label: str  # "credit v3 (champion)"
    since: dt.datetime
    until: dt.datetime
    edges: tuple[float, ...]  # the training decile cut points
    expected_counts: tuple[int, ...]  # training rows per bin
    actual_counts: tuple[int, ...]  # live scores per bin
    value: float | None  # None: no live scores in the window, or no training distribution
    band: PsiBand | None

    @property
    def live_count(self) -> int:
        return sum(self.actual_counts)


def _live_scores(
    *, model_version: ModelVersion, since: dt.datetime, until: dt.datetime, livemode: bool | None
) -> list[float]:
    """The version's scores in the window: as champion (``score``) and in shadow as challenger
    (``challenger_score``); both are that version's opinion of the live population."""
    window = Q(created_at__gte=since, created_at__lt=until)
    if livemode is not None:
        window &= Q(livemode=livemode)
    as_champion = CreditDecision.objects.filter(window, model_version=model_version, score__isnull=False)
    as_challenger = CreditDecision.objects.filter(
        window, challenger_version=model_version, challenger_score__isnull=False
    )
    scores = [*as_champion.values_list("score", flat=True), *as_challenger.values_list("challenger_score", flat=True)]
    return [score for score in scores if score is not None]


def score_psi(
    *, model_version: ModelVersion, since: dt.datetime, until: dt.datetime, livemode: bool | None = None
) -> PsiReport:
    """The PSI of the version's scores in [since, until) against its training deciles; ``livemode``
    narrows to live or sandbox decisions (None: both). No scores, or a version registered without a
    score distribution, gives a report with no value and no band."""
    distribution = model_version.score_distribution or {}
    edges = tuple(float(edge) for edge in distribution.get("edges", []))
    expected = tuple(int(count) for count in distribution.get("counts", []))
    has_reference = bool(edges) and len(expected) == len(edges) + 1 and sum(expected) > 0
    actual = tuple(
        bin_counts(_live_scores(model_version=model_version, since=since, until=until, livemode=livemode), edges)
    )
    value = population_stability_index(expected, actual) if has_reference and sum(actual) > 0 else None
    return PsiReport(
        model_version_id=model_version.public_id,
        label=str(model_version),
        since=since,
        until=until,
        edges=edges,
        expected_counts=expected,
        actual_counts=actual,
        value=value,
        band=None if value is None else psi_band(value),
    )


# --- Approval rate and approved amounts by day -------------------------------------------------


@dataclass(frozen=True)
class ApprovedAmounts:
    currency: str
    approved: int  # approved decisions in this currency
    total_amount: int  # minor units
    average_amount: int  # minor units, rounded half up once, here


@dataclass(frozen=True)
class DayRow:
    day: dt.date  # UTC
    decisions: int
    approved: int
    approval_rate: float | None  # approved / decisions; None on a day without decisions
    amounts: tuple[ApprovedAmounts, ...]  # one per currency with approvals, by currency code


def _average_minor_units(total_amount: int, count: int) -> int:
    """Half-up integer average of non-negative minor units."""
    return (2 * total_amount + count) // (2 * count)


def _utc_days(since: dt.datetime, until: dt.datetime) -> list[dt.date]:
    first, last = since.astimezone(dt.UTC).date(), (until - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    return [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)] if until > since else []


def approval_by_day(*, since: dt.datetime, until: dt.datetime, livemode: bool) -> list[DayRow]:
    """Every UTC day the window touches, oldest first, including days without decisions."""
    approved = Q(outcome__in=CreditDecision.APPROVALS)
    grouped = (
        CreditDecision.objects.filter(created_at__gte=since, created_at__lt=until, livemode=livemode)
        .annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day", "currency")
        .annotate(
            decisions=Count("id"),
            approved=Count("id", filter=approved),
            amount=Sum(Coalesce("approved_amount", "amount"), filter=approved),
        )
        .order_by()
    )
    decisions: dict[dt.date, int] = defaultdict(int)
    approvals: dict[dt.date, int] = defaultdict(int)
    amounts: dict[dt.date, list[ApprovedAmounts]] = defaultdict(list)
    for row in grouped:
        day = row["day"]
        decisions[day] += row["decisions"]
        approvals[day] += row["approved"]
        if row["approved"]:
            amounts[day].append(
                ApprovedAmounts(
                    currency=row["currency"],
                    approved=row["approved"],
                    total_amount=row["amount"],
                    average_amount=_average_minor_units(row["amount"], row["approved"]),
                )
            )
    return [
        DayRow(
            day=day,
            decisions=decisions[day],
            approved=approvals[day],
            approval_rate=approvals[day] / decisions[day] if decisions[day] else None,
            amounts=tuple(sorted(amounts[day], key=lambda amount: amount.currency)),
        )
        for day in _utc_days(since, until)
    ]


# --- Adverse impact by age band ----------------------------------------------------------------


@dataclass(frozen=True)
class BandRow:
    band: str
    decisions: int
    approved: int
    approval_rate: float | None  # None: no decisions in this band
    adverse_impact_ratio: float | None  # approval rate / the highest known band's rate
    is_flagged: bool  # ratio below 0.8


def age_on(*, date_of_birth: dt.date, day: dt.date) -> int:
    """Whole years on ``day`` (the same arithmetic as ``Identity.age_on``)."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def age_band(*, date_of_birth: dt.date | None, day: dt.date) -> str:
    if date_of_birth is None:
        return UNKNOWN_AGE_BAND
    age = age_on(date_of_birth=date_of_birth, day=day)
    label = UNDER_AGE_BAND
    for lowest_age, band_label in AGE_BANDS:
        if age >= lowest_age:
            label = band_label
    return label


def adverse_impact_by_age_band(*, since: dt.datetime, until: dt.datetime, livemode: bool) -> list[BandRow]:
    """Approval rate per age band (age at the UTC date of each decision) and its adverse-impact ratio.

    The reference is the highest approval rate among the known age bands (``unknown`` is not an age
    group, so it never sets the bar, but its own ratio is shown and flagged like the others). Bands
    without decisions have no rate and are never flagged; a band with few decisions can be flagged
    by chance, so read the counts with the ratio."""
    rows = CreditDecision.objects.filter(created_at__gte=since, created_at__lt=until, livemode=livemode).values_list(
        "created_at", "outcome", "consumer__identity__date_of_birth"
    )
    decisions: dict[str, int] = defaultdict(int)
    approvals: dict[str, int] = defaultdict(int)
    for created_at, outcome, date_of_birth in rows.iterator(chunk_size=2000):
        band = age_band(date_of_birth=date_of_birth, day=created_at.astimezone(dt.UTC).date())
        decisions[band] += 1
        approvals[band] += outcome in CreditDecision.APPROVALS
    labels = [label for _, label in AGE_BANDS] + [UNKNOWN_AGE_BAND]
    if decisions[UNDER_AGE_BAND]:
        labels.insert(0, UNDER_AGE_BAND)
    rates = {label: approvals[label] / decisions[label] for label in labels if decisions[label]}
    known_rates = [rate for label, rate in rates.items() if label != UNKNOWN_AGE_BAND]
    highest = max(known_rates, default=0.0)
    result = []
    for label in labels:
        rate = rates.get(label)
        ratio = rate / highest if rate is not None and highest > 0 else None
        result.append(
            BandRow(
                band=label,
                decisions=decisions[label],
                approved=approvals[label],
                approval_rate=rate,
                adverse_impact_ratio=ratio,
                is_flagged=ratio is not None and ratio < ADVERSE_IMPACT_FLAG_BELOW,
            )
        )
    return result


# --- Everything, for the command and the admin page --------------------------------------------


@dataclass(frozen=True)
class MonitoringReport:
    name: str
    livemode: bool
    since: dt.datetime
    until: dt.datetime
    psi: tuple[PsiReport, ...]  # the champion's, then the challenger's (those that exist)
    days: tuple[DayRow, ...]
    age_bands: tuple[BandRow, ...]


@reporting_reads()  # a read-only report over weeks: the read replica's work when there is one
def model_monitoring_report(
    *, name: str | None = None, days: int = DEFAULT_WINDOW_DAYS, livemode: bool = True
) -> MonitoringReport:
    """The three reports over the last ``days`` days up to the project clock's now, for the model
    ``name`` (default: ``CREDIT_MODEL_NAME``, the one decisions use)."""
    name = name or settings.CREDIT_MODEL_NAME
    until = clock.now()
    since = until - dt.timedelta(days=days)
    in_service = ModelVersion.objects.filter(
        name=name, status__in=[ModelVersion.Status.CHAMPION, ModelVersion.Status.CHALLENGER]
    )
    ordered = sorted(in_service, key=lambda version: version.status != ModelVersion.Status.CHAMPION)
    return MonitoringReport(
        name=name,
        livemode=livemode,
        since=since,
        until=until,
        psi=tuple(score_psi(model_version=version, since=since, until=until, livemode=livemode) for version in ordered),
        days=tuple(approval_by_day(since=since, until=until, livemode=livemode)),
        age_bands=tuple(adverse_impact_by_age_band(since=since, until=until, livemode=livemode)),
    )
