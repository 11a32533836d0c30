"""What the load test sends (run by loadtest/run.py; read its README.md).

Two user classes, chosen on locust's command line:

* ``Bare``: ``GET /`` (the home page) and nothing else, the server's bare-view throughput.
* ``Checkout``: one iteration is one purchase, as merchants and shoppers make it:

  1. the merchant's server creates a checkout session (partner API, one of several merchants, each
     with its own key and basket sizes);
  2. the shopper's browser opens the hosted page; a shopper new to this browser signs in with the
     one-time code mailed to them (read from the local inbox), completes KYC; a returning one is
     still signed in; then picks one of the offers shown and confirms with a test card;
  3. on approval the merchant reads the order, captures it (in full, or in two shipments),
     sometimes refunds part of it, and lists its recent orders.

  A browser checks out as the same shopper ``PURCHASES_PER_SHOPPER`` times, then a new shopper takes
  it. Nine shoppers in ten have a clean sandbox credit file (``+clean``); the rest get a random
  one, so declines, counteroffers and reviews happen too (each a normal answer, not an error).

Every request carries what the TLS-terminating proxy of a deployment adds (``X-Forwarded-Proto:
https`` and the shopper's or merchant's address in ``X-Forwarded-For``; the runner sets
``TRUSTED_PROXY_COUNT=1``). All addresses are loopback ones: no traffic leaves 127.0.0.1. Any
answer other than the one the step expects fails the request (the runner exits non-zero).

Configuration: the JSON file named by ``LOADTEST_CONFIG`` (written by the runner).
"""

from __future__ import annotations

import html
import itertools
import json
import os
import random
import re
import time
import urllib.error
import urllib.request
import uuid
from http.cookiejar import Cookie, DefaultCookiePolicy
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from locust import FastHttpUser, constant, task
from locust.contrib.fasthttp import ResponseContextManager

CONFIG: dict[str, Any] = (
    json.loads(Path(os.environ["LOADTEST_CONFIG"]).read_text()) if "LOADTEST_CONFIG" in os.environ else {}
)
PURCHASES_PER_SHOPPER = 3
CLEAN_SHARE = 0.9
SPLIT_CAPTURE_SHARE = 0.3  # orders shipped in two boxes
REFUND_SHARE = 0.3  # orders with a partial refund after capture
# The offer a journey takes when it is shown ("pay_in_4/4", a key of the seed's "products"); by
# default one of those shown at random.
PREFERRED_PRODUCT: str | None = None
CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}
IDENTITY = {
    "legal_name": "Ada Lovelace",
    "date_of_birth": "1990-05-17",
    "address_line1": "1 Main St",
    "address_line2": "",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
    "national_id_last4": "6789",
}
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PRODUCT_INPUT = re.compile(r'name="product" value="(prod_\w+)"')
CONTINUE_LINK = re.compile(r'id="continue" href="([^"]+)"')
CODE_WAIT_SECONDS = 5.0

_shoppers = itertools.count(1 + int(CONFIG.get("first_shopper", 0)))


def _address(number: int) -> str:
    """A loopback address per shopper (127.1.0.1, 127.1.0.2, …): the client address the platform's
    per-address limits count, as a real shopper's own address would be."""
    return f"127.{1 + number // 65_025 % 250}.{number // 255 % 255}.{1 + number % 254}"


class LoopbackIsSecure(DefaultCookiePolicy):
    """Browsers treat http://127.0.0.1 as a secure context and send it ``Secure`` cookies (the
    platform's session and CSRF cookies are all ``Secure`` in production); so does this jar, for
    loopback hosts only."""

    def return_ok_secure(self, cookie: Cookie, request: Any) -> bool:
        return bool(urlsplit(request.full_url).hostname in ("127.0.0.1", "localhost")) or super().return_ok_secure(
            cookie, request
        )


class Failed(Exception):
    """A step answered something other than what it should: the journey stops (already counted)."""


def poisson_throughput(purchases_per_second: float) -> Any:
    """A browser's purchases start as a Poisson process at ``purchases_per_second`` (exponential gaps
    between starts, counted from the last start; at once when a purchase ran past its gap), as
    independent shoppers arrive. Locust's ``constant_throughput`` paces each browser to a fixed
    period instead: browsers started in the same second then stay in step and arrive together, so
    the half-load phase measured bursts of a dozen purchases at once (2026-12-07: the confirm's p50
    730 ms with the two cores half idle)."""

    def wait_time(user: Checkout) -> float:
        now = time.monotonic()
        user.next_start = max(user.next_start + random.expovariate(purchases_per_second), now)
        return user.next_start - now

    return wait_time


class Checkout(FastHttpUser):
    connection_timeout = 30.0
    network_timeout = 30.0
    # Full load: each browser starts its next purchase at once. Half load: the runner sets the
    # purchases per second each browser keeps to, on average (poisson_throughput).
    paced = bool(CONFIG.get("purchases_per_second_per_user"))
    next_start = 0.0
    wait_time = poisson_throughput(CONFIG["purchases_per_second_per_user"]) if paced else constant(0)

    def on_start(self) -> None:
        if self.paced:  # the first purchase too arrives at a random time, not with every other browser's
            time.sleep(random.expovariate(CONFIG["purchases_per_second_per_user"]))
        self.next_start = time.monotonic()  # when this browser's current purchase started (paced)
        self.origin = f"https://{urlsplit(self.host or '').netloc}"
        self.client.cookiejar.set_policy(LoopbackIsSecure())
        self.purchases = 0
        self.last_product = ""  # the offer the last purchase confirmed
        self._new_shopper()

    def _new_shopper(self) -> None:
        number = next(_shoppers)
        self.client.cookiejar.clear()
        tag = "+clean" if random.random() < CLEAN_SHARE else ""  # noqa: S311 - a traffic mix, not a secret
        self.email = f"shopper{tag}-{CONFIG.get('run', 'x')}-{number}@example.com"
        self.address = _address(number)
        self.signed_in = False
        self.purchases = 0

    # --- HTTP helpers -------------------------------------------------------------------------------

    def _browser_headers(self, *, post: bool = False) -> dict[str, str]:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": self.address}
        if post:
            headers |= {"Origin": self.origin, "Content-Type": "application/x-www-form-urlencoded"}
        return headers

    def _page(self, name: str, path: str, *, expect: int | tuple[int, ...] = 200) -> tuple[str, str]:
        """GET a hosted page; (its body, its Location for a redirect)."""
        with self.client.get(
            path, name=name, headers=self._browser_headers(), allow_redirects=False, catch_response=True
        ) as response:
            return self._checked(response, name, expect)

    def _form(
        self, name: str, path: str, fields: dict[str, str], *, token: str, expect: int | tuple[int, ...] = 302
    ) -> tuple[str, str]:
        body = urlencode({"csrfmiddlewaretoken": token, **fields})
        headers = self._browser_headers(post=True) | {"Referer": f"{self.origin}{path}"}
        with self.client.post(
            path, name=name, data=body, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            return self._checked(response, name, expect)

    def _checked(self, response: ResponseContextManager, name: str, expect: int | tuple[int, ...]) -> tuple[str, str]:
        expected = (expect,) if isinstance(expect, int) else expect
        text = response.text or ""
        if response.status_code not in expected:
            response.failure(f"{name}: {response.status_code}, expected {expected}: {text[:200]!r}")
            raise Failed(name)
        response.success()
        location = response.headers.get("Location") if response.headers is not None else None
        return text, str(location or "")

    def _api(
        self, name: str, method: str, path: str, merchant: dict[str, Any], *, body: Any = None, expect: int = 200
    ) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {merchant['key']}",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": f"127.0.10.{1 + merchant['index']}",  # the merchant's server
        }
        if method == "POST":
            headers |= {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
        with self.client.request(
            method,
            path,
            name=name,
            data=json.dumps(body) if body is not None else None,
            headers=headers,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            text, _ = self._checked(response, name, expect)
        answer: dict[str, Any] = json.loads(text)
        return answer

    @staticmethod
    def _token(page: str, name: str) -> str:
        found = CSRF_INPUT.search(page)
        if not found:
            raise Failed(f"{name}: no CSRF token in the page")
        return html.unescape(found.group(1))

    def _code(self) -> str:
        """The newest code mailed to this shopper, from the local inbox (not a request to the platform)."""
        deadline = time.monotonic() + CODE_WAIT_SECONDS
        url = f"{CONFIG['mailbox']}/mail/code?{urlencode({'to': self.email})}"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310  # nosec B310 - http://127.0.0.1 inbox
                    return str(answer.read().decode())
            except urllib.error.HTTPError as error:
                if error.code != 404:
                    raise
            time.sleep(0.01)
        self.environment.events.request.fire(
            request_type="MAIL",
            name="mail: code arrives",
            response_time=CODE_WAIT_SECONDS * 1000,
            response_length=0,
            exception=Failed(f"no code reached {self.email}"),
            context={},
        )
        raise Failed("no code")

    # --- The journey ----------------------------------------------------------------------------------

    @task
    def purchase(self) -> None:
        if self.purchases >= PURCHASES_PER_SHOPPER:
            self._new_shopper()
        self.purchases += 1
        merchant = random.choice(CONFIG["merchants"])  # noqa: S311
        try:
            self._purchase(merchant)
        except Failed:
            self._new_shopper()  # start clean: a failed step leaves the browser's state unknown

    def _purchase(self, merchant: dict[str, Any]) -> None:
        low, high = merchant["amount_range"]
        amount = random.randrange(low, high, 100)  # noqa: S311
        shipping = 500
        session = self._api(
            "api: create session",
            "POST",
            "/api/v1/checkout/sessions",
            merchant,
            body={
                "amount": amount,
                "currency": "USD",
                "line_items": [
                    {"name": "Item", "quantity": 1, "unit_amount": amount - shipping},
                    {"name": "Shipping", "quantity": 1, "unit_amount": shipping},
                ],
                "return_url": f"https://shop{merchant['index']}.example.com/thanks",
                "cancel_url": f"https://shop{merchant['index']}.example.com/cart",
                "merchant_reference": uuid.uuid4().hex[:12],
                "customer_email": self.email,
            },
            expect=201,
        )
        path = urlsplit(session["url"]).path
        if not self.signed_in:
            self._sign_in(path)
            self._kyc(path)
        page, _ = self._page("hosted: checkout page", path)
        products = PRODUCT_INPUT.findall(page)
        if not products:
            raise Failed("no offers on the checkout page")
        preferred = merchant.get("products", {}).get(PREFERRED_PRODUCT)
        product = preferred if preferred in products else random.choice(products)  # noqa: S311
        self.last_product = product
        _, location = self._form(
            "hosted: confirm",
            f"{path}/confirm",
            {"product": product, "payment_method": "", **CARD},
            token=self._token(page, "hosted: checkout page"),
            expect=(302, 200),  # 302: approved; 200: declined, a counteroffer, or in review
        )
        if not location:
            self._merchant_lists(merchant)
            return
        approval, _ = self._page("hosted: approved page", location)
        link = CONTINUE_LINK.search(approval)
        if not link:
            raise Failed("no way back to the shop on the approval page")
        order_id = parse_qs(urlsplit(html.unescape(link.group(1))).query)["order"][0]
        self._merchant_ships(merchant, order_id)
        self._merchant_lists(merchant)

    def _sign_in(self, path: str) -> None:
        self._page("hosted: checkout page (signed out)", path)
        page, _ = self._page("hosted: sign-in page", f"/account/sign-in?{urlencode({'next': path})}")
        self._form(
            "hosted: request code", "/account/sign-in", {"identifier": self.email}, token=self._token(page, "sign-in")
        )
        page, _ = self._page("hosted: code page", "/account/verify")
        _, location = self._form(
            "hosted: verify code", "/account/verify", {"code": self._code()}, token=self._token(page, "verify")
        )
        if location != path:
            raise Failed(f"signed in, but sent to {location!r} instead of {path!r}")
        self.signed_in = True

    def _kyc(self, path: str) -> None:
        _, location = self._page("hosted: checkout page (before KYC)", path, expect=302)
        if location != f"{path}/identity":
            raise Failed(f"a new shopper was sent to {location!r}, not to KYC")
        page, _ = self._page("hosted: identity page", location)
        self._form("hosted: identity (KYC)", location, IDENTITY, token=self._token(page, "identity"))

    def _merchant_ships(self, merchant: dict[str, Any], order_id: str) -> None:
        order = self._api("api: get order", "GET", f"/api/v1/orders/{order_id}", merchant)
        amount = int(order["authorized_amount"])
        captures = f"/api/v1/orders/{order_id}/captures"
        if random.random() < SPLIT_CAPTURE_SHARE:  # noqa: S311
            first = amount // 2
            self._api("api: capture", "POST", captures, merchant, body={"amount": first}, expect=201)
            self._api("api: capture", "POST", captures, merchant, body={"amount": amount - first}, expect=201)
        else:
            self._api("api: capture", "POST", captures, merchant, body={"amount": amount}, expect=201)
        if random.random() < REFUND_SHARE:  # noqa: S311
            refund = {"amount": max(100, amount // 4), "reason": "returned an item"}
            self._api("api: refund", "POST", f"/api/v1/orders/{order_id}/refunds", merchant, body=refund, expect=201)

    def _merchant_lists(self, merchant: dict[str, Any]) -> None:
        self._api("api: list orders", "GET", "/api/v1/orders?limit=20", merchant)


class Bare(FastHttpUser):
    """The cheapest view production serves: the home page (``bnpl.core.views.home``), through the
    whole middleware stack and a template render, with no database query for a visitor without a
    session. (``/readyz`` costs several times as much: a ``SELECT 1``, the cache, the broker, the model.)
    Production has no emptier view, and the load test adds none."""

    wait_time = constant(0)

    @task
    def home(self) -> None:
        self.client.get("/", name="bare: GET /", headers={"X-Forwarded-Proto": "https"})
