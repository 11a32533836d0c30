from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from merchants.webhooks import verify_signature


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool  # verify_signature with the receiver's secret, at the moment it arrived
    client: tuple[str, int] = ("", 0)  # the sender's address and port: a kept-alive connection keeps its port


class WebhookReceiver:
    """A merchant's webhook handler on 127.0.0.1 (a random port): verifies each signature with
    ``verify_signature``, records what arrived, and answers the next status in ``statuses`` (200
    once they run out) with ``answer_body``."""

    def __init__(self) -> None:
        self.secret = ""
        self.statuses: list[int] = []
        self.answer_body = b"ok"
        self.delay = 0.0  # seconds the handler takes before answering
        self.answer_headers: dict[str, str] = {}  # sent with every answer (a Set-Cookie, say)
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    valid = verify_signature(
                        payload=body, header=self.headers.get("Bnpl-Signature", ""), secret=receiver.secret
                    )
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, valid, self.client_address[:2])
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.answer_body)))
                for name, value in receiver.answer_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(receiver.answer_body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bnpl/webhooks"

    def keep_alive(self) -> None:
        """Answer in HTTP/1.1 and keep each connection open for the next request (HTTP/1.0, which
        closes it after each answer, by default)."""
        self.handler.protocol_version = "HTTP/1.1"

    def count(self) -> int:
        with self._lock:
            return len(self.received)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    webhook_receiver = WebhookReceiver()
    thread = threading.Thread(target=webhook_receiver.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield webhook_receiver
    finally:
        webhook_receiver.server.shutdown()
        webhook_receiver.server.server_close()
        thread.join(timeout=5)
