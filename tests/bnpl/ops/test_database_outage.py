"""PostgreSQL stops under a running web process, then comes back.

The web process (tests/bnpl/ops/web_process.py) runs on a PostgreSQL cluster of the test's own
(tests/bnpl/ops/instances.py), never the machine's. While the cluster is down, the partner API
answers a clear 503 in its JSON shape with Retry-After, and a page for people the branded 503 page,
never a 500. When the cluster is back, the same process answers again without a restart (Django
drops the dead connection and opens a new one: CONN_HEALTH_CHECKS), and a checkout creation that
was refused during the outage and retried with the same Idempotency-Key creates one session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.bnpl.ops.instances import private_postgres
from tests.bnpl.ops.web_process import SESSION, WebProcess

ROOT = Path(__file__).resolve().parents[3]


def _unavailable(answer: dict[str, Any]) -> bool:
    return answer["status"] == 503 and str(answer["retry_after"] or "").isdigit()


def test_the_database_down_answers_503_with_retry_after_then_resumes_without_a_restart() -> None:
    with private_postgres() as cluster:
        cluster.database_create("bnpl")
        web = WebProcess(cluster.url("bnpl"))
        try:
            assert web.ask(get="/api/v1/account")["status"] == 200
            assert web.ask(page="/")["status"] == 200

            cluster.stop()
            api = web.ask(get="/api/v1/account")
            assert _unavailable(api), api
            assert json.loads(api["body"])["error"]["code"] == "service_unavailable"
            created = web.ask(post="/api/v1/checkout/sessions", data=SESSION, key="fault-checkout-1")
            assert _unavailable(created), created
            sign_in = {"username": "owner@example.com", "password": "not-the-one"}  # reads the users table
            page = web.ask(page="/merchant/login", form=sign_in)
            assert _unavailable(page), page
            assert page["content_type"].startswith("text/html")
            assert "briefly unavailable" in page["body"]
            assert "Traceback" not in page["body"] and "OperationalError" not in page["body"]

            cluster.start()  # nothing told the web process: it finds the database back by itself
            assert web.ask(get="/api/v1/account")["status"] == 200
            assert web.ask(page="/merchant/login", form=sign_in)["status"] == 200  # the form again, refused
            first = web.ask(post="/api/v1/checkout/sessions", data=SESSION, key="fault-checkout-1")
            again = web.ask(post="/api/v1/checkout/sessions", data=SESSION, key="fault-checkout-1")
            assert first["status"] == again["status"] == 201, (first, again)  # the replay answers as the first did
            assert json.loads(first["body"])["id"] == json.loads(again["body"])["id"]
            assert web.ask(count="checkout_sessions") == {"count": 1}
        finally:
            web.close()
