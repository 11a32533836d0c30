"""One purchase through HTTP for ``make smoke-production`` (loadtest/smoke.py runs it in a process
of its own: locust's gevent patches the whole interpreter). It is the load test's own journey
(loadtest/locustfile.py ``Checkout._purchase``): the merchant creates a checkout session with its
key, the shopper signs in with the code read from the SMTP sink, completes KYC and confirms pay in 4
with a test card on the hosted pages, and the merchant captures the order in full through the API.

Config: the JSON file named by ``LOADTEST_CONFIG`` (host, mailbox, merchants). Prints one JSON line:
the order id and the order as the API shows it after capture. Exits 1 on any failed step.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from locust.env import Environment

from loadtest import locustfile


def main() -> int:
    config = locustfile.CONFIG
    environment = Environment(user_classes=[locustfile.Checkout], host=config["host"])
    failed: list[str] = []
    began = time.monotonic()

    def on_request(*, name: str, response_time: float, exception: Any = None, **_: Any) -> None:
        mark = "FAILED " if exception else ""
        sys.stderr.write(f"    {time.monotonic() - began:6.1f} s  {mark}{name} ({response_time:.0f} ms)\n")
        if exception:
            failed.append(f"{name}: {exception}")

    environment.events.request.add_listener(on_request)
    # One whole capture, no refund: the smoke test checks one deterministic life.
    locustfile.SPLIT_CAPTURE_SHARE = 0.0
    locustfile.REFUND_SHARE = 0.0
    random.seed(18)  # the same amount each run
    # Pay in 4: one payment at checkout and three later, so the smoke run has an installment to
    # collect (loadtest/smoke.py); the journey fails if it is not offered.
    locustfile.PREFERRED_PRODUCT = "pay_in_4/4"
    locustfile.Checkout.host = config["host"]
    user = locustfile.Checkout(environment)
    user.on_start()
    user.email = f"shopper+clean-smoke-{config['run']}@example.com"  # a clean sandbox credit file: approved
    merchant = config["merchants"][0]
    orders: list[str] = []
    ships = user._merchant_ships

    def shipped(merchant: dict[str, Any], order_id: str) -> None:
        orders.append(order_id)
        ships(merchant, order_id)

    user._merchant_ships = shipped  # type: ignore[method-assign]
    try:
        user._purchase(merchant)
    except locustfile.Failed as error:
        failed.append(f"journey stopped: {error}")
    if not failed and not orders:
        failed.append("the purchase was not approved (no order to capture)")
    if not failed and user.last_product != merchant["products"][locustfile.PREFERRED_PRODUCT]:
        failed.append(f"{locustfile.PREFERRED_PRODUCT} was not offered, or not the one confirmed")
    if failed:
        sys.stderr.write("\n".join(failed) + "\n")
        return 1
    order = user._api("api: get order (after capture)", "GET", f"/api/v1/orders/{orders[0]}", merchant)
    sys.stdout.write(json.dumps({"order": orders[0], "detail": order}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
