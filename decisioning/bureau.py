"""Primary (bureau-style) data behind a provider interface, one provider per mode:
``get_bureau(livemode=...)`` (``BUREAU_PROVIDER_TEST`` / ``BUREAU_PROVIDER_LIVE``). Test mode is
always served by a sandbox bureau: a test checkout never pulls a real person's credit file.

The sandbox bureau answers deterministically per consumer (seeded by the consumer's public id), with
distributions near those of the Give Me Some Credit population, so demos and tests are repeatable.
Email tags steer it for demos: ``+risky`` gives a file with serious delinquencies, ``+clean`` a
spotless one, ``+thin`` no file at all (every field unknown).

``HttpBureau`` is the adapter to a real provider over HTTPS (its contract is in its docstring and
in docs/credit-model.md). Whatever goes wrong on the way (no answer in time, a refusal, an answer
outside the contract) raises ``BureauUnavailableError``, and the decision fails closed on it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
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


THIN_FILE = BureauReport(None, None, None, None, None, None, None, None)


class BureauUnavailableError(Exception):
    """The bureau gave no usable answer: unreachable, too slow, refused us, or answered outside its
    contract. The decision fails closed on it (no decision; "try again in a few minutes")."""


class BureauProvider(Protocol):
    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        """The consumer's file (``THIN_FILE`` when the bureau has none); raises
        ``BureauUnavailableError`` when it cannot say."""
        ...


class SandboxBureau:
    is_sandbox = True  # made-up files: test mode anywhere, live mode only in the demo and the tests

    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        return _sandbox_file(consumer_id, (email or "").split("@")[0])


@functools.lru_cache(maxsize=16_384)
def _sandbox_file(consumer_id: str, tag: str) -> BureauReport:
    """The sandbox's file of one consumer: a function of their id and email tag alone, so worked
    out once per process (seeding a generator costs more than the rest of a decision's features;
    a shopper asks again for each payment option and each retry)."""
    if "+thin" in tag:
        return THIN_FILE
    if "+clean" in tag:
        return BureauReport(0.05, 0, 0, 0, 0.15, 7500.0, 6, 1)
    if "+risky" in tag:
        return BureauReport(1.0, 4, 2, 3, 0.9, 1800.0, 3, 0)
    seed = int.from_bytes(hashlib.sha256(consumer_id.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    return BureauReport(
        revolving_utilization=round(float(rng.beta(0.6, 1.2)), 4),
        late_30_59_count=_draw(rng, _LATE_30_59),
        late_60_89_count=_draw(rng, _LATE_60_89),
        late_90_plus_count=_draw(rng, _LATE_90_PLUS),
        debt_ratio=round(float(rng.gamma(2.0, 0.18)), 4),
        monthly_income=round(float(rng.lognormal(_LOG_MEDIAN_INCOME, 0.5)), 2),
        open_credit_lines=int(rng.poisson(8)),
        real_estate_loans=int(rng.poisson(1)),
    )


def _cumulative(probabilities: list[float]) -> np.ndarray:
    cumulative = np.array(probabilities).cumsum()
    return cumulative / cumulative[-1]


# Counts 0, 1, 2… with these probabilities, drawn as ``Generator.choice(counts, p=…)`` draws them
# (one uniform number against the cumulative probabilities), without its checks on every call.
_LATE_30_59 = _cumulative([0.84, 0.11, 0.03, 0.02])
_LATE_60_89 = _cumulative([0.95, 0.04, 0.01])
_LATE_90_PLUS = _cumulative([0.945, 0.04, 0.015])
_LOG_MEDIAN_INCOME = float(np.log(5400))


def _draw(rng: np.random.Generator, cumulative: np.ndarray) -> int:
    return int(cumulative.searchsorted(rng.random(), side="right"))


COUNT_FIELDS = ("late_30_59_count", "late_60_89_count", "late_90_plus_count", "open_credit_lines", "real_estate_loans")
AMOUNT_FIELDS = ("revolving_utilization", "debt_ratio", "monthly_income")
MAX_COUNT = 10_000  # more than any real file holds: a larger count is a broken answer
MAX_ANSWER_BYTES = 64 * 1024


class HttpBureau:
    """A bureau (or an in-house credit data service) reached over HTTPS.

    Request: ``POST BUREAU_HTTP_URL`` with ``Authorization: Bearer BUREAU_HTTP_API_KEY`` and the JSON
    body ``{"consumer_reference": "<our consumer's public id>"}``: the reference only, no name, email
    or id number (the provider knows our consumers by the reference; matching them to a file is
    its part). No redirect is followed; the answer is read for at most ``BUREAU_HTTP_TIMEOUT_SECONDS``
    per step (connecting, each read) and twice that for the whole exchange; at most 64 KiB is read.

    Answer (HTTP 200, JSON)::

        {"consumer_reference": "<the same reference>",
         "found": true,
         "report": {"revolving_utilization": 0.31, "late_30_59_count": 0, "late_60_89_count": 0,
                    "late_90_plus_count": 0, "debt_ratio": 0.22, "monthly_income": 5400.0,
                    "open_credit_lines": 7, "real_estate_loans": 1}}

    Every report field is present; ``null`` means unknown. Counts are whole numbers from 0;
    utilization and debt ratio are ratios (0.31 = 31%); monthly income is in major units. ``"found":
    false`` (no ``report`` needed) means the bureau has no file: a thin file, every field unknown,
    which the decision treats as it treats the sandbox's ``+thin`` (the model scores without them
    and a decline says "insufficient credit history"). Anything else (another status, another
    reference, a missing or mistyped field, a negative count) raises ``BureauUnavailableError``.
    """

    is_sandbox = False

    def __init__(self) -> None:
        problems = self.settings_problems()
        if problems:
            raise ImproperlyConfigured(" ".join(problems))
        self.url: str = settings.BUREAU_HTTP_URL
        self.api_key: str = settings.BUREAU_HTTP_API_KEY
        self.timeout: float = float(settings.BUREAU_HTTP_TIMEOUT_SECONDS)
        self.verify: str | bool = settings.BUREAU_HTTP_CA_BUNDLE or True

    @classmethod
    def settings_problems(cls) -> list[str]:
        problems = []
        url = urlsplit(settings.BUREAU_HTTP_URL or "")
        if url.scheme != "https" or not url.hostname:
            problems.append("BUREAU_HTTP_URL must be the bureau's https:// address.")
        if not settings.BUREAU_HTTP_API_KEY:
            problems.append("BUREAU_HTTP_API_KEY is empty.")
        if not 0 < float(settings.BUREAU_HTTP_TIMEOUT_SECONDS) <= 30:
            problems.append("BUREAU_HTTP_TIMEOUT_SECONDS must be above 0 and at most 30.")
        if settings.BUREAU_HTTP_CA_BUNDLE and not os.path.isfile(settings.BUREAU_HTTP_CA_BUNDLE):
            problems.append("BUREAU_HTTP_CA_BUNDLE names no file.")
        return problems

    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        return bureau_answer_read(self._ask(consumer_id), consumer_id=consumer_id)

    def _ask(self, consumer_id: str) -> Any:
        deadline = time.monotonic() + 2 * self.timeout
        try:
            with requests.post(
                self.url,
                json={"consumer_reference": consumer_id},
                headers={"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"},
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
                verify=self.verify,
                stream=True,
            ) as response:
                if response.status_code != 200:
                    raise BureauUnavailableError(f"The bureau answered HTTP {response.status_code}.")
                body = _read_until(response, deadline)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as error:
            raise BureauUnavailableError(f"The bureau could not be reached ({type(error).__name__}).") from error
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except ValueError as error:
            raise BureauUnavailableError("The bureau's answer is not JSON.") from error


def _read_until(response: requests.Response, deadline: float) -> bytes:
    """The body, read as it arrives (``read1``: whatever one socket read brings), so that an answer
    dripped slowly is cut at the deadline, and one larger than 64 KiB is cut at that size."""
    body = b""
    while chunk := response.raw.read1(8192, decode_content=True):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            raise BureauUnavailableError("The bureau's answer is too large.")
        if time.monotonic() > deadline:
            raise BureauUnavailableError("The bureau's answer came too slowly.")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def bureau_answer_read(answer: Any, *, consumer_id: str) -> BureauReport:
    """The report in an ``HttpBureau`` answer, checked against its contract (see there)."""
    if not isinstance(answer, dict) or answer.get("consumer_reference") != consumer_id:
        raise BureauUnavailableError("The bureau answered for another consumer.")
    found = answer.get("found")
    if found is False:
        return THIN_FILE
    report = answer.get("report")
    if found is not True or not isinstance(report, dict):
        raise BureauUnavailableError("The bureau's answer has no report.")
    values: dict[str, Any] = {}
    for name in COUNT_FIELDS + AMOUNT_FIELDS:
        if name not in report:
            raise BureauUnavailableError(f"The bureau's report has no {name}.")
        values[name] = _field(name, report[name])
    return BureauReport(**values)


def _field(name: str, value: Any) -> int | float | None:
    if value is None:
        return None
    if name in COUNT_FIELDS:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
            return value
        raise BureauUnavailableError(f"The bureau's {name} is not a count.")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    raise BureauUnavailableError(f"The bureau's {name} is not a number from 0.")


def _provider_class(livemode: bool) -> tuple[Any, str | None]:
    setting_name = f"BUREAU_PROVIDER_{'LIVE' if livemode else 'TEST'}"
    path = str(getattr(settings, setting_name) or "")
    if not path:
        return None, f"{setting_name} is not set."
    try:
        return import_string(path), None
    except ImportError:
        return None, f"{setting_name} names {path!r}, which cannot be imported."


NOT_SANDBOX_FOR_TEST = (
    "BUREAU_PROVIDER_TEST names a bureau that is not a sandbox: a test checkout would pull a real person's credit file."
)


def bureau_problems(*, livemode: bool) -> list[str]:
    """What is wrong with the bureau serving one mode: none named; for test mode, one that is not
    a sandbox; for live mode, the sandbox, or a provider whose own settings are wrong."""
    provider, problem = _provider_class(livemode)
    if problem:
        return [problem]
    if not livemode:
        return [] if getattr(provider, "is_sandbox", False) else [NOT_SANDBOX_FOR_TEST]
    if getattr(provider, "is_sandbox", False):
        return ["BUREAU_PROVIDER_LIVE is the sandbox bureau: live credit decisions would rest on made-up files."]
    settings_problems = getattr(provider, "settings_problems", None)
    return list(settings_problems()) if settings_problems else []


def get_bureau(*, livemode: bool) -> BureauProvider:
    """The bureau of one mode (pass the application's mode). Refuses (ImproperlyConfigured) a mode
    with none named, and a test-mode bureau that is not a sandbox."""
    provider, problem = _provider_class(livemode)
    if problem:
        raise ImproperlyConfigured(problem)
    if not livemode and not getattr(provider, "is_sandbox", False):
        raise ImproperlyConfigured(NOT_SANDBOX_FOR_TEST)
    bureau: BureauProvider = provider()
    return bureau
