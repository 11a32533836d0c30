"""Runs localstripe (a local Stripe-compatible server) for the tests, with Connect transfers added:
localstripe has no ``/v1/transfers``, which the Stripe adapter pays settlements with. The transfer
is checked as Stripe checks it (a positive integer amount, a currency, an ``acct_`` destination)
and stored like localstripe's own objects. Usage: ``python tests/stripe_server.py --port N``."""

from __future__ import annotations

from typing import Any

from localstripe import resources, server
from localstripe.errors import UserError


class Transfer(resources.StripeObject):  # type: ignore[misc]
    object = "transfer"
    _id_prefix = "tr_"

    def __init__(
        self, amount: Any = None, currency: Any = None, destination: Any = None, metadata: Any = None, **kwargs: Any
    ) -> None:
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        amount = resources.try_convert_to_int(amount)
        if not (isinstance(amount, int) and amount > 0 and isinstance(currency, str) and currency):
            raise UserError(400, "Bad request")
        if not (isinstance(destination, str) and destination.startswith("acct_")):
            raise UserError(400, f"No such destination: '{destination}'")
        super().__init__()
        self.amount, self.currency, self.destination = amount, currency, destination
        self.metadata = metadata or {}
        self.reversed = False


for method, url, view in (
    ("POST", "/v1/transfers", server.api_create),
    ("GET", "/v1/transfers/{id}", server.api_retrieve),
    ("GET", "/v1/transfers", server.api_list_all),
):
    server.app.router.add_route(method, url, view(Transfer, url))

if __name__ == "__main__":
    server.start()
