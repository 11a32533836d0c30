"""The on-site messaging script on a merchant's page, in headless Chromium: the line comes from our
server (CORS, publishable key), follows the price when a variant changes it, and the page asks no
host but ours."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from merchants import services
from merchants.models import ApiKey
from tests.browser import screenshot
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

SHOP_PAGE = """<!doctype html><html lang="en"><head><title>Desk lamp</title></head><body>
<h1>Desk lamp</h1><p>$99.00</p>
<p id="bnpl" data-bnpl-amount="9900" data-bnpl-currency="USD"></p>
<button onclick="document.getElementById('bnpl').setAttribute('data-bnpl-amount', '10001')">Large</button>
<script src="{server}/static/messaging/bnpl-messaging.js" data-key="{key}" async></script>
</body></html>"""


@pytest.fixture
def shop_server() -> Iterator[Callable[[str], str]]:
    """The merchant's own site: a local HTTP server on another origin than ours (so CORS is
    exercised) serving one page; returns its address."""
    servers: list[ThreadingHTTPServer] = []

    def serve(html: str) -> str:
        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_widget_shows_the_servers_line_and_follows_the_price(
    browser: Any,
    live_server: Any,
    tenant: Tenant,
    shop_server: Callable[[str], str],
) -> None:
    key = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False).token
    shop = shop_server(SHOP_PAGE.format(server=live_server.url, key=key))
    page = browser.new_page()
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]) if "://" in request.url else None)

    page.goto(f"{shop}/lamp")
    line = page.locator("#bnpl")
    line.filter(has_text="or 4 interest-free payments of $24.75").wait_for()
    screenshot(page, "messaging-widget")
    page.get_by_role("button", name="Large").click()
    line.filter(has_text="or 4 interest-free payments of $25.00 (the first $25.01)").wait_for()

    assert hosts == {shop.split("/")[2], live_server.url.split("/")[2]}
