"""What every bench module shares: timing helpers and the champion model the decisions and
collections figures run against."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REQUESTS_DEFAULT = 400
WARMUP = 30


def measure(
    label: str, call: Callable[[], int], expected: int, *, requests: int = REQUESTS_DEFAULT
) -> tuple[float, float]:
    """Median microseconds of ``call`` (which returns an HTTP status, checked every time): of wall
    time, and of this process's CPU time. The test client runs the whole server in this process,
    so the CPU time is our code's own work without the waits for PostgreSQL and Redis, which on a
    shared machine under load grow with everyone else's work and can swamp it."""
    for _ in range(WARMUP):
        assert call() == expected, label
    samples, cpu_samples = [], []
    for _ in range(requests):
        start, cpu_start = time.perf_counter(), time.process_time()
        status = call()
        cpu_samples.append(time.process_time() - cpu_start)
        samples.append(time.perf_counter() - start)
        assert status == expected, (label, status)
    return statistics.median(samples) * 1e6, statistics.median(cpu_samples) * 1e6


def time_pure(call: Callable[[], object], repeat: int = 200) -> float:
    for _ in range(10):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in microseconds of samples in seconds."""
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6


def timed(calls: list[Callable[[], object]]) -> tuple[float, float, float]:
    """p50 and p99 of wall time, and p50 of this process's CPU time, in microseconds per call (the
    CPU time leaves out the waits for PostgreSQL, which on a shared machine grow with its load)."""
    samples, cpu_samples = [], []
    for call in calls:
        start, cpu_start = time.perf_counter(), time.process_time()
        call()
        cpu_samples.append(time.process_time() - cpu_start)
        samples.append(time.perf_counter() - start)
    return (*percentiles(samples), statistics.median(cpu_samples) * 1e6)


def bench_features(rows: int) -> list[dict[str, float | None]]:
    """Model inputs of ``rows`` sandbox-bureau files (deterministic by consumer id)."""
    from decisioning.bureau import SandboxBureau
    from decisioning.features import PlatformHistory, model_features

    bureau = SandboxBureau()
    reports = [bureau.report(consumer_id=f"con_bench{index}", email=None) for index in range(rows)]
    return [model_features(bureau=report, history=PlatformHistory(0, 0.0), amount_major=100.0) for report in reports]


def champion_ensure(inputs: list[dict[str, float | None]] | None = None) -> Any:
    """The champion scorer: trained on sandbox-bureau rows and promoted the first time it is asked for,
    so each bench module can run on its own (``python bench/run.py collections``)."""
    import numpy as np
    import pyarrow as pa

    from decisioning import registry, scoring, training
    from decisioning.models import ModelVersion

    scorer = scoring.champion()
    if scorer is not None:
        return scorer
    spec_dict = json.loads((Path(training.__file__).parent / "specs" / "give_me_some_credit.json").read_text())
    inputs = inputs or bench_features(20_000)
    rng = np.random.default_rng(3)
    spec = training.FeatureSpec.from_dict(spec_dict)
    columns = {name: np.array([row[name] for row in inputs], dtype=float) for name in spec.feature_names}
    margin = -3 + 2 * columns["RevolvingUtilizationOfUnsecuredLines"] + columns["NumberOfTimes90DaysLate"]
    columns[spec.label] = (rng.random(len(inputs)) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    table = training.Table(
        path="bench", columns={k: pa.chunked_array([v]) for k, v in columns.items()}, row_count=len(inputs)
    )
    trained = training.train(
        training.validate(table, spec), spec, training.TrainingParameters(folds=3, rounds=200, threads=2)
    )
    registry.model_promote(
        model_version=registry.register_model(name="credit", trained=trained), to=ModelVersion.Status.CHAMPION
    )
    scorer = scoring.champion()
    assert scorer is not None
    return scorer


def rows_insert_sql(table: str, names: str, values: list[tuple[Any, ...]]) -> None:
    """Straight SQL in one transaction (execute_values on PostgreSQL, executemany elsewhere): the
    bench measures what reads these rows, not the ORM's inserts. ``table`` and ``names`` are ours."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            insert = f"INSERT INTO {table} ({names}) VALUES %s"  # nosec B608  # constants; values are parameters
            execute_values(cursor.cursor, insert, values, page_size=max(1, len(values)))
        else:
            placeholders = ", ".join(["%s"] * len(values[0]))
            insert = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # nosec B608  # constants; values are parameters
            cursor.executemany(insert, values)


def statistics_gather() -> None:
    """``ANALYZE`` every table, as autovacuum would after a bench fills them (on this machine's
    PostgreSQL it is off): on tables never analysed the planner expects one row, and a bench would
    measure plans production never runs."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
