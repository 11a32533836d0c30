"""The scale curve: how the platform's periodic work grows with the size of its history.

One database is grown in steps (default 10,000 -> 100,000 -> 1,000,000 plans; ANALYZE after each)
from plans the services made (bench/history.py copies them with set-based SQL). At each size the
same fixed work is timed:

* **collections day**: ``collections_daily_work()`` (sweep, lateness, collect) on a day when
  ``DAY_PLANS`` installments are due, whatever the history holds;
* **settlement batch**: ``settlements_run()`` over that day's ``DAY_PLANS`` captures;
* **dashboard figures**: one merchant's home figures and daily series (``figures_for_periods`` and
  ``daily_series``), for a merchant whose own history stays ``FOCUS_PLANS`` plans while the
  platform grows around it -- median of 5; with ``--replica``, also inside ``reporting_reads()``
  on a private primary's streaming standby;
* **lake snapshot**: ``lake_export_snapshot()``, the full hourly snapshot of every snapshot table
  (this one grows with the history by design: it is the whole state);
* **training**: ``train_model --from-lake`` on the snapshot's loan tape, every matured plan of it
  (a history of N plans gives about N rows), ``TRAIN_ROUNDS`` rounds and ``TRAIN_FOLDS`` folds.

Each is printed with its growth exponent b, the least-squares slope of log(time) over log(plans):
b ~ 0 means the work does not see the history, b ~ 1 means it reads all of it.

Run: ``python bench/scale.py`` (or ``make scale``); ``--sizes 1000,10000`` for a quick look;
``--deadline-minutes`` (15) stops before a size whose growth would not fit; ``--lake-max``
(100,000) is the largest size the snapshot and training run at; ``--replica --sizes 2000,10000
--lake-max 0`` for the primary/standby comparison. ``DATABASE_URL`` must name PostgreSQL: the bench
makes (and drops, unless ``--keep``) ``test_<name>`` beside it. Figures: docs/scaling.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.history import Group
    from merchants.models import Merchant

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")

SIZES = (10_000, 100_000, 1_000_000)
DAY_PLANS = 2_000
FOCUS_PLANS = 1_000
TRAIN_ROUNDS = 50
TRAIN_FOLDS = 3
LAKE_MAX_PLANS = 100_000  # the snapshot reads everything (b ~ 1 by design): past this, it is the fit that says
BULK_MERCHANTS = 4
GOOD_PLANS = 20  # per bulk merchant: paid off
BAD_PLANS = 4  # per bulk merchant: their card fails off-session, the plan is charged off
DAY_PLANS_PER_MERCHANT = 5  # the day's due plans made by the services, copied to DAY_PLANS
SIMULATED_DAYS = 135  # past the charge-off (120 days past due) of the last installment
DAY_STEP = 5
GOOD_CARD = "4242 4242 4242 4242"
BAD_CARD = "4000 0025 0000 3155"  # succeeds at checkout, declined off-session


def exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) on log(sizes): t ~ c * N**b."""
    if len(sizes) < 2:
        return math.nan
    xs = [math.log(size) for size in sizes]
    ys = [math.log(max(value, 1e-9)) for value in seconds]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def meaning(b: float) -> str:
    if math.isnan(b):
        return "one size: no slope"
    if b < 0.1:
        return "flat: does not see the history"
    if b < 0.5:
        return "slow growth: index depth, cache misses"
    if b < 0.85:
        return "fixed costs plus a part that reads it all"
    if b < 1.15:
        return "linear: reads the whole history"
    return "superlinear: worse than reading it all"


@dataclass
class Templates:
    """The service-made groups: the bulk merchants' history, the focus merchant's history, and one
    day's due plans (kept out of the live tables: ``bench.history.stash``)."""

    history: Group
    history_plans: int
    focus: Group
    focus_plans: int
    day: Group
    day_plans: int
    focus_merchant: Merchant


def templates_build(*, log: Callable[[str], None]) -> Templates:
    """Plans through the services: checkout, capture, the days of collections (charge-offs
    included), settlement -- once to make every shared (merchant-level) account, then for each group."""
    from bench.common import champion_ensure
    from bench.history import Group, high_water
    from tests.merchants.factories import make_merchant

    champion_ensure()
    merchants = [make_merchant(name=f"Scale {index}") for index in range(BULK_MERCHANTS)]
    focus = make_merchant(name="Scale focus")
    _plans_live([*merchants, focus], good=1, bad=1)  # the shared accounts, outside every group
    before = high_water()
    _plans_live([focus], good=GOOD_PLANS, bad=BAD_PLANS)
    after_focus = high_water()
    _plans_live(merchants, good=GOOD_PLANS, bad=BAD_PLANS)
    after_history = high_water()
    day = _plans_day(merchants)
    rows = Group.between(after_focus, after_history).rows()
    log(f"templates made by the services; history rows per table: {sorted(rows.items(), key=lambda item: -item[1])}")
    return Templates(
        history=Group.between(after_focus, after_history),
        history_plans=BULK_MERCHANTS * (GOOD_PLANS + BAD_PLANS),
        focus=Group.between(before, after_focus),
        focus_plans=GOOD_PLANS + BAD_PLANS,
        day=day,
        day_plans=BULK_MERCHANTS * DAY_PLANS_PER_MERCHANT,
        focus_merchant=focus,
    )


_consumers = itertools.count()


def _order(merchant: Merchant, card: str) -> None:
    from bnpl.checkout import orders as checkout_orders
    from tests.bnpl.checkout.factories import make_authorized_order
    from tests.consumers.factories import make_verified_consumer

    order = make_authorized_order(
        merchant=merchant,
        livemode=False,
        amount=20_000,
        consumer=make_verified_consumer(email=f"scale{next(_consumers)}+clean@example.com"),  # approved
        card=card,
    )
    checkout_orders.order_capture(order=order, amount=order.authorized_amount)


def _plans_live(merchants: list[Merchant], *, good: int, bad: int) -> None:
    """Plans that live their whole life: captured, settled, collected or charged off."""
    from bnpl.collections.services import collections_daily_work
    from bnpl.core import clock
    from bnpl.core.services import clock_advance
    from merchants.settlements import settlements_run

    for merchant in merchants:
        for index in range(good + bad):
            _order(merchant, GOOD_CARD if index < good else BAD_CARD)
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    for _ in range(0, SIMULATED_DAYS, DAY_STEP):
        clock_advance(by=dt.timedelta(days=DAY_STEP))
        collections_daily_work()
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))


def _plans_day(merchants: list[Merchant]) -> Group:
    """Plans whose second installment falls due today, stashed out of the live tables: each size
    copies them afresh, so every collections day has the same work."""
    from bench.history import Group, high_water, stash
    from bnpl.core.services import clock_advance

    before = high_water()
    for merchant in merchants:
        for _ in range(DAY_PLANS_PER_MERCHANT):
            _order(merchant, GOOD_CARD)
    group = Group.between(before, high_water())
    stash(group)
    clock_advance(by=dt.timedelta(days=14))
    return group


@dataclass
class Step:
    plans: int
    seconds: dict[str, float]
    notes: dict[str, str]


def grow(
    templates: Templates, *, plans: int, day_plans: int, focus_plans: int, first: bool, log: Callable[[str], None]
) -> None:
    from bench.common import statistics_gather
    from bench.history import copies_insert
    from bnpl.plans.models import Plan

    started = time.perf_counter()
    if first:
        copies_insert(templates.focus, copies=max(0, focus_plans // templates.focus_plans - 1), shifted=True)
    copies_insert(templates.day, copies=day_plans // templates.day_plans, shifted=False, source="scale_template")
    missing = plans - Plan.objects.count()
    copies = max(0, math.ceil(missing / templates.history_plans))
    copies_insert(templates.history, copies=copies, shifted=True, progress=log)
    statistics_gather()
    log(f"grown to {Plan.objects.count():,} plans in {time.perf_counter() - started:.0f} s")


def measure(
    templates: Templates, *, step: int, lake_root: str | None, log: Callable[[str], None]
) -> tuple[dict[str, float], dict[str, str]]:
    from django.conf import settings
    from django.core.management import call_command
    from django.test.utils import override_settings

    from bnpl.collections.services import collections_daily_work, due_installments
    from bnpl.core import clock
    from bnpl.core.replica import new_unit_of_work, reporting_reads
    from bnpl.lake.export import lake_export_snapshot
    from merchants import dashboard
    from merchants.settlements import settlements_run

    seconds: dict[str, float] = {}
    notes: dict[str, str] = {}

    due = due_installments().count()
    started = time.perf_counter()
    work = collections_daily_work()
    seconds["collections day"] = time.perf_counter() - started
    notes["collections day"] = f"{work.collected.succeeded:,} of {due:,} due collected"
    assert work.collected.succeeded == due, (work, due)

    started = time.perf_counter()
    run = settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    seconds["settlement batch"] = time.perf_counter() - started
    notes["settlement batch"] = f"{run.batches} batches"

    period = dashboard.period_for()
    scope: dict[str, Any] = {"merchant": templates.focus_merchant, "livemode": False, "currency": "USD"}

    def figures(block: Callable[[], contextlib.AbstractContextManager[object]]) -> tuple[float, object]:
        samples = []
        for _ in range(5):
            new_unit_of_work()  # a dashboard request: it has written nothing yet
            started = time.perf_counter()
            with block() as alias:
                dashboard.figures_for_periods(**scope, periods=[period, period.previous])
                dashboard.daily_series(**scope, period=period)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples), alias

    seconds["dashboard figures"], _ = figures(lambda: contextlib.nullcontext("default"))
    if "replica" in settings.DATABASES:
        _replica_catch_up()
        seconds["dashboard figures, replica"], alias = figures(reporting_reads)
        notes["dashboard figures, replica"] = f"read on {alias}"

    if lake_root is None:
        log(", ".join(f"{name} {value:.2f} s" for name, value in seconds.items()))
        return seconds, notes
    with override_settings(LAKE_ROOT=lake_root):
        started = time.perf_counter()
        report = lake_export_snapshot(at=clock.now() + dt.timedelta(hours=step))
        seconds["lake snapshot"] = time.perf_counter() - started
        notes["lake snapshot"] = f"{report.rows:,} rows"
        output = io.StringIO()
        started = time.perf_counter()
        call_command("train_model", from_lake=True, rounds=TRAIN_ROUNDS, folds=TRAIN_FOLDS, threads=2, stdout=output)
        seconds["training"] = time.perf_counter() - started
        notes["training"] = output.getvalue().split(" rows from ")[0].split(") on ")[-1] + " rows"
    log(", ".join(f"{name} {value:.2f} s" for name, value in seconds.items()))
    return seconds, notes


def _replica_catch_up() -> None:
    """Until the standby has replayed the primary's WAL as it is now (the generator's writes):
    the router reads a unit that wrote from the primary until then."""
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        position = cursor.fetchone()[0]
    with connections["replica"].cursor() as cursor:
        for _ in range(600):
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position])
            if cursor.fetchone()[0]:
                return
            time.sleep(0.5)
    raise RuntimeError("the replica did not catch up in 5 minutes")


def table(steps: list[Step]) -> str:
    sizes = [step.plans for step in steps]
    names = list(steps[0].seconds)
    header = ["operation", *[f"t@{_short(size)}" for size in sizes], "exponent b", "what it means"]
    rows = []
    for name in names:
        measured = [(step.plans, step.seconds[name]) for step in steps if name in step.seconds]
        b = exponent([size for size, _ in measured], [value for _, value in measured])
        cells = [_duration(step.seconds[name]) if name in step.seconds else "not run" for step in steps]
        rows.append([name, *cells, f"{b:.2f}", meaning(b)])
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "-|-".join("-" * width for width in widths))
    return "\n".join(lines)


def _short(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1_000 and size % 1_000 == 0:
        return f"{size // 1_000}k"
    return str(size)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=os.environ.get("SCALE_SIZES", ",".join(map(str, SIZES))))
    parser.add_argument("--day-plans", type=int, default=int(os.environ.get("SCALE_DAY_PLANS", DAY_PLANS)))
    parser.add_argument("--lake-max", type=int, default=int(os.environ.get("SCALE_LAKE_MAX", LAKE_MAX_PLANS)))
    parser.add_argument(
        "--replica",
        action="store_true",
        help="run on a private primary with a streaming replica (ports 15440-15449) and time the dashboard on both",
    )
    parser.add_argument("--keep", action="store_true", help="keep the test database (test_<name>) to look into")
    parser.add_argument("--deadline-minutes", type=float, default=float(os.environ.get("SCALE_DEADLINE_MINUTES", 15)))
    arguments = parser.parse_args()
    sizes = sorted(int(size) for size in arguments.sizes.split(","))
    with contextlib.ExitStack() as stack:
        if arguments.replica:
            stack.enter_context(_private_primary_with_replica())
        run(arguments, sizes)


@contextlib.contextmanager
def _private_primary_with_replica() -> Iterator[None]:
    """A primary and a hot standby of the bench's own (tests/bnpl/ops/instances.py), never the
    machine's shared PostgreSQL: the bench's test database is made on the primary and read on both."""
    from tests.bnpl.ops.instances import private_postgres_with_replica

    with private_postgres_with_replica() as (primary, replica):
        primary.query("CREATE DATABASE bnpl_scale")
        os.environ["DATABASE_URL"] = primary.url("bnpl_scale")
        os.environ["REPLICA_DATABASE_URL"] = replica.url("test_bnpl_scale")  # create_test_db's name
        os.environ["REPLICA_MAX_LAG_SECONDS"] = "3600"  # the bench waits for replay itself; checks as configured
        yield


def run(arguments: argparse.Namespace, sizes: list[int]) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    if connection.vendor != "postgresql":
        raise SystemExit("bench/scale.py needs PostgreSQL: set DATABASE_URL")
    began = time.perf_counter()
    deadline = began + arguments.deadline_minutes * 60

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.0f} s] {message}", file=sys.stderr, flush=True)

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    steps: list[Step] = []
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the sandbox's messages
            templates = templates_build(log=log)
        day_plans = min(arguments.day_plans, sizes[0] // 5)
        focus_plans = min(FOCUS_PLANS, sizes[0] // 10)
        with tempfile.TemporaryDirectory(prefix="bnpl-scale-lake-") as lake_root:
            rate = math.inf  # plans grown per second, as last measured
            for index, size in enumerate(sizes):
                projected = (size - (steps[-1].plans if steps else 0)) / rate
                if time.perf_counter() + projected > deadline:
                    log(f"{size:,} plans would need about {projected / 60:.0f} min to grow: past the deadline")
                    break
                grown = time.perf_counter()
                grow(templates, plans=size, day_plans=day_plans, focus_plans=focus_plans, first=index == 0, log=log)
                rate = (size - (steps[-1].plans if steps else 0)) / (time.perf_counter() - grown)
                if index == 0:
                    _verify(log)
                lake = lake_root if size <= arguments.lake_max else None
                seconds, notes = measure(templates, step=index + 1, lake_root=lake, log=log)
                steps.append(Step(plans=size, seconds=seconds, notes=notes))
    finally:
        if not arguments.keep:
            connection.creation.destroy_test_db(old_name, verbosity=0)
    load = os.getloadavg()
    print(
        f"scale curve on PostgreSQL, {len(steps)} sizes; {day_plans:,} installments due and captured per day; "
        f"dashboard merchant of {focus_plans:,} plans; training {TRAIN_ROUNDS} rounds x {TRAIN_FOLDS} folds"
    )
    print(table(steps))
    print(f"  lake snapshot and training run up to {arguments.lake_max:,} plans (--lake-max)")
    for step in steps:
        print(f"  @{_short(step.plans)}: " + "; ".join(f"{name}: {note}" for name, note in step.notes.items()))
    print(f"wall time {time.perf_counter() - began:.0f} s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _verify(log: Callable[[str], None]) -> None:
    """The generated history at the smallest size: every foreign key found, the ledger balanced."""
    from io import StringIO

    from django.core.management import call_command

    from bench.history import dangling_references

    dangling = dangling_references()
    assert not dangling, dangling
    output = StringIO()
    call_command("ledger_verify", stdout=output)
    log(output.getvalue().strip().splitlines()[-1])


if __name__ == "__main__":
    main()
