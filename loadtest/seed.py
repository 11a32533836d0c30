"""The load test's data, through the product's own services, under the load test's settings
(loadtest/settings.py: production's), in a fresh database the runner made and migrated.

``python -m loadtest.seed merchants --count N --receiver URL`` creates N approved merchants, each with
its default payment products, a test-mode secret key and a webhook endpoint for every event at
``URL/<index>``, and prints them as JSON (the keys and signing secrets are shown once, as to a
merchant). ``python -m loadtest.seed deliveries`` prints the webhook deliveries by status, so the
runner can wait until every event was delivered and then check that none failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

# Merchant names and what they sell: basket sizes in cents (amount ranges the locustfile draws from).
MERCHANTS = (
    ("Trailhead Outfitters", (6_000, 24_000)),
    ("Northwind Electronics", (20_000, 90_000)),
    ("Blue Fern Home", (4_000, 30_000)),
    ("Copper Kettle Kitchenware", (3_000, 15_000)),
    ("Lumen Cycles", (30_000, 120_000)),
    ("Harbor Books", (2_500, 8_000)),
    ("Sable & Pine Apparel", (5_000, 40_000)),
    ("Orbit Toys", (3_000, 20_000)),
    ("Atlas Fitness", (8_000, 60_000)),
    ("Meadow Garden Supply", (4_000, 25_000)),
    ("Pixel Peak Games", (6_000, 50_000)),
    ("Quill & Ink Stationers", (2_500, 9_000)),
)


def merchants_seed(*, count: int, receiver: str) -> list[dict[str, Any]]:
    from django.db import transaction

    from bnpl.core.context import Actor, acting_as
    from bnpl.plans.models import PaymentProduct
    from merchants import services
    from merchants.models import ApiKey

    seeded = []
    with acting_as(Actor(kind="system", identifier="loadtest", label="Load test seed")):
        for index in range(count):
            name, (low, high) = MERCHANTS[index % len(MERCHANTS)]
            with transaction.atomic():
                merchant = services.merchant_create(
                    name=name if index < len(MERCHANTS) else f"{name} {index}",
                    currencies=["USD"],
                    website=f"https://shop{index}.example.com",
                    support_email=f"help@shop{index}.example.com",
                )
                merchant = services.merchant_approve(merchant=merchant)
                key = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=False, name="Load")
                # No receiver (make smoke-production, under production's settings, where a webhook
                # target must be public): the merchant has no endpoint.
                endpoint = (
                    services.webhook_endpoint_create(
                        merchant=merchant, livemode=False, url=f"{receiver}/{index}", enabled_events=["*"]
                    )
                    if receiver
                    else None
                )
            seeded.append(
                {
                    "index": index,
                    "name": merchant.name,
                    "key": key.token,
                    "webhook_secret": endpoint.secret if endpoint else "",
                    "amount_range": [low, high],
                    # Its test-mode offers by kind and number of payments ("pay_in_4/4"): a journey
                    # that must take one (make smoke-production) picks it by this name.
                    "products": {
                        f"{kind}/{count}": public_id
                        for kind, count, public_id in PaymentProduct.objects.filter(
                            merchant=merchant, livemode=False
                        ).values_list("kind", "installment_count", "public_id")
                    },
                }
            )
    return seeded


def deliveries_status() -> dict[str, Any]:
    from django.db.models import Count

    from bnpl.core.models import Event
    from merchants.models import WebhookDelivery

    by_status = dict(
        WebhookDelivery.objects.values_list("status").annotate(count=Count("id")).values_list("status", "count")
    )
    return {"by_status": by_status, "events": Event.objects.count()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.seed")
    commands = parser.add_subparsers(dest="command", required=True)
    merchants = commands.add_parser("merchants")
    merchants.add_argument("--count", type=int, required=True)
    merchants.add_argument("--receiver", default="", help="webhook receiver base URL (none: no endpoint)")
    commands.add_parser("deliveries")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loadtest.settings")
    import django

    django.setup()
    result: Any
    if args.command == "merchants":
        result = merchants_seed(count=args.count, receiver=args.receiver)
    else:
        result = deliveries_status()
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
