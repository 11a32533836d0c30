"""Benchmarks, each with its ratio to a baseline measured in the same run:

* ``api``: the partner API spine (bench/api.py) against a bare Django view;
* ``decisions``: ``decide()`` against a raw model prediction (bench/decisions.py);
* ``collections``: collections and settlement against bare SQL (bench/collecting.py);
* ``lake``: the data-lake export against a bare pyarrow write (bench/lake.py).

Run: make bench (all of them; SQLite by default, set DATABASE_URL to measure on PostgreSQL and
CACHE_URL for Redis), or ``python bench/run.py api decisions`` for some. BENCH_LAKE_ROWS=100000 for a
quicker lake figure. Figures are medians (or p50/p99) in one process with no network: they show the
cost our layers add, not the server's throughput (that is ``make loadtest``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402

PARTS = ("api", "decisions", "collections", "lake")


def main() -> None:
    chosen = sys.argv[1:] or list(PARTS)
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown:
        raise SystemExit(f"unknown bench part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with override_settings(ROOT_URLCONF="bench.api"):
            run(chosen)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(chosen: list[str]) -> None:
    from tests.merchants.factories import make_tenant

    tenant = make_tenant(name="Bench")
    print(f"database: {connection.vendor}; cache: {_cache_backend()}")
    if "api" in chosen:
        from bench.api import bench_api

        bench_api(tenant)
    if "decisions" in chosen:
        from bench.decisions import bench_decisions

        bench_decisions(tenant)
    if "collections" in chosen:
        from bench.collecting import bench_collections

        bench_collections(tenant)
    if "lake" in chosen:
        from bench.lake import bench_lake

        bench_lake()


def _cache_backend() -> str:
    from django.conf import settings

    return str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1]


if __name__ == "__main__":
    main()
