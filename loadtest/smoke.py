"""``make smoke-production``: production's settings on this machine, one full life through HTTP.

Under ``DJANGO_SETTINGS_MODULE=bnpl.settings.production`` (unchanged: no settings module of its own)
with a complete environment whose every part is local (loadtest/run.py ``production_environment``:
fresh secrets, METRICS_TOKEN among them), it starts

* a fresh PostgreSQL database (``SMOKE_DATABASE_URL``, default ``bnpl_smoke``) and two emptied Redis
  databases (``SMOKE_CACHE_URL`` /5, ``SMOKE_BROKER_URL`` /6);
* moto's S3 server with the documents and the lake buckets; an aiosmtpd SMTP sink (loadtest/receivers.py);
* gunicorn (``scripts/entrypoint.sh web``: gunicorn.conf.py, WEB_CONCURRENCY=2, bound to 127.0.0.1),
  a Celery worker and Celery beat (``scripts/entrypoint.sh worker`` and ``beat``);

then checks, each step printed with its time: ``/healthz`` and ``/readyz`` answer 200; a checkout
session created with the merchant's key, the shopper's hosted flow (code read from the SMTP sink,
KYC, confirm) and a capture through the API (loadtest/smoke_journey.py, the load test's journey);
the next installment collected by the worker; ``check --deploy --fail-level WARNING`` clean;
``ledger_verify`` clean; a settlement batch made and paid out; a lake export
writes objects to the moto bucket; ``/metrics`` with the bearer token shows ``bnpl_`` series.
Exits non-zero on the first failure; every process is stopped at the end, whatever happened.

The shopper takes pay in 4, so the plan has payments left after checkout. Production forbids moving
the clock (and this does not weaken it), so the run brings the plan's next installment's collection
date to today in its own database, as if a fortnight had passed, and has the running worker collect
it (``collections_run`` sent through the broker): the installment must be paid by the worker, once,
with the ledger balanced. Settlement closes its batch at ``--cutoff now`` rather than at midnight
(what an operator does to pay a merchant out before the day ends), so the capture is batched and
paid out.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from loadtest import run as parts  # noqa: E402
from loadtest.receivers import Receivers, Running  # noqa: E402

PYTHON = sys.executable
DATABASE_URL = os.environ.get("SMOKE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bnpl_smoke")
CACHE_URL = os.environ.get("SMOKE_CACHE_URL", "redis://127.0.0.1:6379/5")
BROKER_URL = os.environ.get("SMOKE_BROKER_URL", "redis://127.0.0.1:6379/6")
FIRST_PORT = int(os.environ.get("SMOKE_FIRST_PORT", "8350"))  # web, S3, SMTP: this port and the next two
PROXY = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating load balancer adds
BEGAN = time.monotonic()
# The plan's installments as the database holds them.
INSTALLMENTS = (
    "from bnpl.plans.models import Installment as I;"
    "rows = list(I._base_manager.order_by('sequence').values_list('status', 'amount'));"
    "print(f\"{sum(s == 'paid' for s, _ in rows)} of {len(rows)} installment(s) paid: {rows}\")"
)
# A fortnight passes for the plan's next installment: its collection date becomes today (the only
# write the run makes behind the product's back, in its own database); then the running worker is
# asked to collect (the beat's schedule would, within ten minutes) and the run waits for it.
COLLECT_NEXT = """
import time
from bnpl.collections.models import CollectionAttempt
from bnpl.collections.tasks import collections_run
from bnpl.core import clock
from bnpl.plans.models import Installment
due = Installment._base_manager.filter(status="scheduled").order_by("sequence").first()
Installment._base_manager.filter(pk=due.pk).update(collect_on=clock.today())
collections_run.delay()
deadline = time.monotonic() + 90
while time.monotonic() < deadline and Installment._base_manager.get(pk=due.pk).status != "paid":
    time.sleep(0.5)
due.refresh_from_db()
attempts = list(CollectionAttempt.objects.filter(installment=due).values_list("status", flat=True))
print(f"installment {due.sequence} of {due.amount} minor units: {due.status}; attempts {attempts}")
"""


def say(message: str) -> None:
    sys.stdout.write(f"[smoke {time.strftime('%H:%M:%S')} +{time.monotonic() - BEGAN:5.1f} s] {message}\n")
    sys.stdout.flush()


class Failure(SystemExit):
    pass


def fail(message: str) -> Failure:
    return Failure(f"smoke-production FAILED: {message}")


def get(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - 127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # nosec B310 - http://127.0.0.1
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")


def expect_200(name: str, url: str, headers: dict[str, str]) -> str:
    status, body = get(url, headers)
    if status != 200:
        raise fail(f"{name}: {status}: {body[:500]}")
    say(f"{name}: 200")
    return body


def environment(*, smtp_port: int, s3_url: str, metrics_dir: str, static_root: str) -> dict[str, str]:
    parts.DATABASE_URL, parts.CACHE_URL, parts.BROKER_URL = DATABASE_URL, CACHE_URL, BROKER_URL
    env = parts.production_environment(smtp_port=smtp_port, s3_url=s3_url)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bnpl.settings.production",
            "PATH": f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}",  # entrypoint.sh's gunicorn, celery
            "PUBLIC_BASE_URL": "https://pay.smoke.example",
            "DEFAULT_FROM_EMAIL": "Pay Later <no-reply@pay.smoke.example>",
            "AWS_STORAGE_BUCKET_NAME": "smoke-documents",
            "LAKE_S3_BUCKET": "smoke-lake",
            "LAKE_S3_ENDPOINT_URL": s3_url,
            "BUREAU_HTTP_URL": "https://bureau.smoke.example/v1/reports",
            "GUNICORN_BIND": f"127.0.0.1:{FIRST_PORT}",
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            "STATIC_ROOT": static_root,
            "CELERY_LOG_LEVEL": "WARNING",
            "CELERY_CONCURRENCY": "1",
        }
    )
    return env


def main() -> int:
    run_id = secrets.token_hex(3)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="smoke-")))
        logs = ROOT / "var" / "smoke"
        logs.mkdir(parents=True, exist_ok=True)
        metrics_dir = work / "metrics"
        metrics_dir.mkdir()
        web_port, s3_port, smtp_port = FIRST_PORT, FIRST_PORT + 1, FIRST_PORT + 2
        s3_url = f"http://127.0.0.1:{s3_port}"
        host = f"http://127.0.0.1:{web_port}"

        say(f"fresh database {DATABASE_URL.rsplit('/', 1)[-1]}, Redis {CACHE_URL} and {BROKER_URL}")
        parts.database_recreate(DATABASE_URL)
        parts.redis_empty(CACHE_URL, BROKER_URL)

        receivers = Receivers()
        sink = Running(receivers, smtp_port=smtp_port)
        sink.start()
        stack.callback(sink.stop)
        env = environment(
            smtp_port=smtp_port, s3_url=s3_url, metrics_dir=str(metrics_dir), static_root=str(work / "static")
        )
        say(f"SMTP sink on 127.0.0.1:{smtp_port}; moto S3 on {s3_url}")
        moto = stack.enter_context(
            parts.started(
                "s3", [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)], env=env, logs=logs
            )
        )
        parts.wait_until("moto S3", lambda: parts.http_ok(f"{s3_url}/moto-api/"), timeout=60, process=moto)
        parts.buckets_create(s3_url, env)

        say(
            "migrate, collectstatic, train and promote the credit model (production decides only with a champion), seed"
        )
        parts.run("migrate", [PYTHON, "manage.py", "migrate", "--noinput"], env=env, timeout=300)
        # collectstatic as the image's build does (production serves the hashed files of its manifest),
        # beside the training: both take tens of seconds, on different cores.
        collectstatic = [PYTHON, "manage.py", "collectstatic", "--noinput", "-v0"]
        train = [PYTHON, "manage.py", "train_model", "--if-missing", "--promote", "--folds", "2"]
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(parts.run, "collectstatic", collectstatic, env=env, timeout=300),
                pool.submit(parts.run, "train_model", train, env=env, timeout=300),
            ]
            for job in jobs:
                job.result()
        seed = [PYTHON, "-m", "loadtest.seed", "merchants", "--count", "1"]
        merchants = json.loads(parts.run("seed", seed, env=env, timeout=120))

        say("gunicorn (WEB_CONCURRENCY=2), Celery worker and beat through scripts/entrypoint.sh")
        entry = ["sh", "scripts/entrypoint.sh"]
        web = stack.enter_context(parts.started("web", [*entry, "web", "--no-control-socket"], env=env, logs=logs))
        worker = stack.enter_context(parts.started("worker", [*entry, "worker"], env=env, logs=logs))
        beat_schedule = str(work / "celerybeat-schedule")
        beat = stack.enter_context(parts.started("beat", [*entry, "beat", "-s", beat_schedule], env=env, logs=logs))
        parts.wait_until("gunicorn", lambda: parts.http_ok(f"{host}/healthz", PROXY), timeout=90, process=web)
        for process in (worker, beat):
            if process.popen.poll() is not None:
                raise fail(f"{process.name} exited:\n{process.log.read_text()[-3000:]}")

        expect_200("GET /healthz", f"{host}/healthz", PROXY)
        parts.wait_until("GET /readyz", lambda: get(f"{host}/readyz", PROXY)[0] == 200, timeout=30)
        expect_200("GET /readyz", f"{host}/readyz", PROXY)

        say(
            "checkout: session with the merchant's key, hosted sign-in (code from the SMTP sink), KYC, confirm, capture"
        )
        config = work / "journey.json"
        config.write_text(json.dumps({"run": run_id, "host": host, "mailbox": sink.http_url, "merchants": merchants}))
        journey_env = {**env, "LOADTEST_CONFIG": str(config)}
        outcome: dict[str, Any] = json.loads(
            parts.run("journey", [PYTHON, "-m", "loadtest.smoke_journey"], env=journey_env, timeout=90)
        )
        order = outcome["detail"]
        say(
            f"order {outcome['order']}: status {order.get('status')}, authorized {order.get('authorized_amount')}, "
            f"captured {order.get('captured_amount')}; {receivers.summary()['mails']} code(s) mailed"
        )
        shell = [PYTHON, "manage.py", "shell", "--no-imports", "-c"]
        installments = parts.run("installments", [*shell, INSTALLMENTS], env=env, timeout=60).strip()
        say(f"plan {order.get('plan')}: {installments}")
        collection = parts.run("collect", [*shell, COLLECT_NEXT], env=env, timeout=150).strip()
        say(f"a fortnight later (its date moved to today), the worker collected {collection}")
        if ": paid; attempts ['succeeded']" not in collection:
            raise fail(f"the worker did not collect the installment once: {collection}")
        installments = parts.run("installments", [*shell, INSTALLMENTS], env=env, timeout=60).strip()
        say(f"plan {order.get('plan')}: {installments}")

        check = [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
        say(f"check --deploy: {parts.run('check --deploy', check, env=env, timeout=120).strip()}")
        settle = [PYTHON, "manage.py", "run_settlements", "--cutoff", "now"]
        settled = parts.run("run_settlements", settle, env=env, timeout=120).strip()
        say(f"settlements at --cutoff now: {settled}")
        if not settled.startswith("1 batch(es): 1 paid"):
            raise fail(f"the capture was not batched and paid out once: {settled}")
        say(
            "ledger_verify (after the capture, the collection and the payout):\n"
            + parts.run("ledger_verify", [PYTHON, "manage.py", "ledger_verify"], env=env, timeout=120)
        )
        exported = parts.run("lake_export", [PYTHON, "manage.py", "lake_export"], env=env, timeout=120)
        say("lake_export:\n" + exported.rstrip())
        lake = lake_objects(s3_url, env)
        if not lake:
            raise fail(f"lake export wrote nothing to s3://{env['LAKE_S3_BUCKET']}")
        say(f"lake bucket: {len(lake)} object(s), e.g. {', '.join(lake[:3])}")

        metrics = expect_200(
            "GET /metrics", f"{host}/metrics", {**PROXY, "Authorization": f"Bearer {env['METRICS_TOKEN']}"}
        )
        if "bnpl_" not in metrics:
            raise fail("/metrics has no bnpl_ series")
        status, _ = get(f"{host}/metrics", PROXY)
        if status == 200:
            raise fail("/metrics answered 200 without the token")
        samples = sum(line.startswith("bnpl_") for line in metrics.splitlines())
        say(f"/metrics: {samples} bnpl_ samples; {status} without the token")
        for process in (web, worker, beat):
            if process.popen.poll() is not None:
                raise fail(f"{process.name} exited during the run:\n{process.log.read_text()[-3000:]}")
        say("stopping every process")
    say(f"smoke-production passed in {time.monotonic() - BEGAN:.0f} s (server logs in var/smoke/)")
    return 0


def lake_objects(s3_url: str, env: dict[str, str]) -> list[str]:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    listed = client.list_objects_v2(Bucket=env["LAKE_S3_BUCKET"])
    return [item["Key"] for item in listed.get("Contents", [])]


if __name__ == "__main__":
    raise SystemExit(main())
