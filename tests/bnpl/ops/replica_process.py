"""A process whose settings name a primary and a read replica, for the replica tests:
``python -m tests.bnpl.ops.replica_process`` with DATABASE_URL at the test's private primary and
REPLICA_DATABASE_URL at its hot standby (tests/bnpl/ops/instances.py).

It migrates the primary, makes a merchant with an owner and an authorized order, then reads one JSON
command per line on stdin and answers each with one JSON line on stdout. Every answer carries
``queries``: the SQL each alias ran for the command (``{"default": [...], "replica": [...]}``), and
``fallbacks``: ``bnpl_replica_fallbacks`` by reason, so far.

* ``{"where": {"write_first": false, "new_unit": true}}``: in a unit of work (a new one unless
  ``new_unit`` is false), optionally an ORM write first, then a reporting block: ``{"alias",
  "port", "in_recovery"}`` of the server the block's reads reach (``inet_server_port()``).
* ``{"write_in_block": "a name"}``: a reporting block on the replica that renames the merchant (a
  write), then reads in the same block: ``{"alias_after", "port_after"}``.
* ``{"page": "/merchant/"}``: the page as the signed-in owner: ``{"status", "body"}``.
* ``{"lake_snapshot": true}``: the lake's snapshot export: ``{"rows"}``.
* ``{"monitoring": true}``: the model-monitoring report: ``{"days"}``.
* ``{"set": {"REPLICA_MAX_LAG_SECONDS": 0}}``: settings changed for the next commands.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any


def _answer(answer: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")
    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import close_old_connections, connections
    from django.test import Client
    from django.test.utils import setup_test_environment
    from prometheus_client import REGISTRY

    from bnpl.core import replica
    from bnpl.lake.export import lake_export_snapshot
    from decisioning.monitoring import model_monitoring_report
    from merchants.models import Merchant
    from tests.bnpl.checkout.factories import make_authorized_order
    from tests.helpers import verified_client
    from tests.merchants.factories import make_member, make_tenant

    call_command("migrate", verbosity=0, interactive=False)
    setup_test_environment()

    tenant = make_tenant(name="Replica merchant")
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=12_345)
    client = verified_client(make_member(merchant=tenant.merchant), client=Client(raise_request_exception=False))
    for alias in (replica.PRIMARY, replica.REPLICA):
        connections[alias].force_debug_cursor = True
    _answer({"ready": True, "order": order.public_id})

    def where() -> dict[str, Any]:
        with connections[replica.reading_alias()].cursor() as cursor:
            cursor.execute("SELECT inet_server_port(), pg_is_in_recovery()")
            port, in_recovery = cursor.fetchone()
        return {"alias": replica.reading_alias(), "port": port, "in_recovery": in_recovery}

    def fallbacks() -> dict[str, float]:
        return {
            sample.labels["reason"]: sample.value
            for metric in REGISTRY.collect()
            if metric.name == "bnpl_replica_fallbacks"
            for sample in metric.samples
            if sample.name.endswith("_total")
        }

    for line in sys.stdin:
        command = json.loads(line)
        # What WSGI's request_started does before each request in production: drop a connection
        # that errored and no longer answers.
        close_old_connections()
        for alias in (replica.PRIMARY, replica.REPLICA):
            connections[alias].queries_log.clear()
        answer: dict[str, Any] = {}
        if "set" in command:
            for name, value in command["set"].items():
                setattr(settings, name, value)
        elif "where" in command:
            options = command["where"]
            if options.get("new_unit", True):
                replica.new_unit_of_work()
            if options.get("write_first"):
                Merchant.objects.filter(pk=tenant.merchant.pk).update(name="Replica merchant (renamed)")
            with replica.reporting_reads():
                answer = where()
        elif "write_in_block" in command:
            replica.new_unit_of_work()
            with replica.reporting_reads():
                answer["alias_before"] = replica.reading_alias()
                Merchant.objects.filter(pk=tenant.merchant.pk).update(name=command["write_in_block"])
                after = where()
                answer |= {"alias_after": after["alias"], "port_after": after["port"]}
        elif "page" in command:
            response = client.get(command["page"])
            answer = {"status": response.status_code, "body": response.content.decode(errors="replace")}
        elif "lake_snapshot" in command:
            replica.new_unit_of_work()
            at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=command.get("hour", 0))
            answer = {"rows": lake_export_snapshot(take_over=True, at=at).rows}
        elif "monitoring" in command:
            replica.new_unit_of_work()
            answer = {"days": len(model_monitoring_report(livemode=False).days)}
        answer["queries"] = {
            alias: [query["sql"] for query in connections[alias].queries_log]
            for alias in (replica.PRIMARY, replica.REPLICA)
        }
        answer["fallbacks"] = fallbacks()
        _answer(answer)


if __name__ == "__main__":
    main()
