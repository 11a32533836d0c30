"""Primary (bureau-style) data behind a provider interface.

The sandbox bureau answers deterministically per consumer (seeded by the consumer's public id), with
distributions near those of the Give Me Some Credit population, so demos and tests are repeatable.
Email tags steer it for demos: ``+risky`` gives a file with serious delinquencies, ``+clean`` a
spotless one, ``+thin`` no file at all (every field unknown).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class BureauReport:
    """What a bureau says. ``None`` means unknown (a thin file), never zero."""

    revolving_utilization: float | None  # balances / limits on revolving lines, 0..1+
    late_30_59_count: int | None  # times 30-59 days past due in the last two years
    late_60_89_count: int | None
    late_90_plus_count: int | None
    debt_ratio: float | None  # monthly debt payments / monthly income
    monthly_income: float | None  # major units
    open_credit_lines: int | None
    real_estate_loans: int | None


class BureauProvider(Protocol):
    def report(self, *, consumer_id: str, email: str | None) -> BureauReport: ...


class SandboxBureau:
    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        tag = (email or "").split("@")[0]
        if "+thin" in tag:
            return BureauReport(None, None, None, None, None, None, None, None)
        seed = int.from_bytes(hashlib.sha256(consumer_id.encode()).digest()[:8], "big")
        rng = np.random.default_rng(seed)
        if "+clean" in tag:
            return BureauReport(0.05, 0, 0, 0, 0.15, 7500.0, 6, 1)
        if "+risky" in tag:
            return BureauReport(1.0, 4, 2, 3, 0.9, 1800.0, 3, 0)
        return BureauReport(
            revolving_utilization=round(float(rng.beta(0.6, 1.2)), 4),
            late_30_59_count=int(rng.choice([0, 1, 2, 3], p=[0.84, 0.11, 0.03, 0.02])),
            late_60_89_count=int(rng.choice([0, 1, 2], p=[0.95, 0.04, 0.01])),
            late_90_plus_count=int(rng.choice([0, 1, 2], p=[0.945, 0.04, 0.015])),
            debt_ratio=round(float(rng.gamma(2.0, 0.18)), 4),
            monthly_income=round(float(rng.lognormal(np.log(5400), 0.5)), 2),
            open_credit_lines=int(rng.poisson(8)),
            real_estate_loans=int(rng.poisson(1)),
        )


def get_bureau() -> BureauProvider:
    provider: BureauProvider = import_string(settings.BUREAU_PROVIDER)()
    return provider
