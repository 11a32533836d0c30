"""The parts outside the platform that a load test stands in for, on 127.0.0.1 only:

* a mail server (aiosmtpd, real SMTP): production's code sender (``EmailAndSmsSender``) delivers
  each sign-in code by SMTP, as it would to the mail provider; the shoppers read their code from
  their inbox here (``GET /mail/code?to=<address>``), as a person reads it from theirs. The
  platform keeps codes only as HMACs, so there is nowhere else to read one from.
* the merchants' webhook handlers (``POST /hooks/<merchant index>``): each delivery's signature is
  checked against that merchant's endpoint secret the way docs/webhooks.md tells a merchant to
  (HMAC-SHA256 over ``"<t>.<raw body>"``, five minutes' tolerance), and what arrived is counted.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

CODE = re.compile(r"code is (\d{6})")
TOLERANCE_SECONDS = 300


def signature_valid(*, payload: bytes, header: str, secret: str) -> bool:
    """``Bnpl-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``."""
    parts = [item.strip().partition("=") for item in header.split(",")]
    timestamp = next((value for key, _, value in parts if key == "t"), "")
    signatures = [value.encode() for key, _, value in parts if key == "v1"]
    if not timestamp.isdigit() or not signatures or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + payload, hashlib.sha256).hexdigest().encode()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def _text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    texts = []
    for part in parts:
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace"))
    return "\n".join(texts)


@dataclass
class Receivers:
    """What arrived, shared by the SMTP handler and the HTTP handler's threads."""

    secrets: dict[str, str] = field(default_factory=dict)  # merchant index -> webhook signing secret
    codes: dict[str, str] = field(default_factory=dict)  # address -> the newest code sent to it
    mails: int = 0
    hooks: Counter[str] = field(default_factory=Counter)  # event type -> deliveries
    event_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    # aiosmtpd's handler hook: one message accepted.
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        found = CODE.search(_text(email.message_from_bytes(content)))
        with self.lock:
            self.mails += 1
            if found:
                for address in envelope.rcpt_tos:
                    self.codes[address.lower()] = found.group(1)
        return "250 Message accepted for delivery"

    def hook(self, *, index: str, body: bytes, signature: str) -> int:
        secret = self.secrets.get(index)
        if secret is None or not signature_valid(payload=body, header=signature, secret=secret):
            with self.lock:
                self.bad_signatures += 1
            return 400
        event = json.loads(body)
        with self.lock:
            if event["id"] in self.event_ids:
                self.duplicates += 1
            self.event_ids.add(event["id"])
            self.hooks[event["type"]] += 1
        return 200

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "mails": self.mails,
                "webhooks": sum(self.hooks.values()),
                "by_type": dict(self.hooks),
                "duplicates": self.duplicates,
                "bad_signatures": self.bad_signatures,
            }


def _handler(receivers: Receivers) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes = b"ok") -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            path = urlsplit(self.path).path
            if not path.startswith("/hooks/"):
                self._answer(404)
                return
            index = path.removeprefix("/hooks/")
            self._answer(receivers.hook(index=index, body=body, signature=self.headers.get("Bnpl-Signature", "")))

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/mail/code":
                self._answer(404)
                return
            address = parse_qs(url.query).get("to", [""])[0].lower()
            with receivers.lock:
                code = receivers.codes.pop(address, None)
            self._answer(200, code.encode()) if code else self._answer(404, b"no code yet")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class Running:
    """The SMTP server and the HTTP server, each on its own thread, until ``stop``."""

    def __init__(self, receivers: Receivers, *, smtp_port: int) -> None:
        self.receivers = receivers
        self.smtp = Controller(receivers, hostname="127.0.0.1", port=smtp_port)
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receivers))
        self.http.daemon_threads = True
        self.http_url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.smtp_port = smtp_port
        self._thread = threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> None:
        self.smtp.start()
        self._thread.start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self._thread.join(timeout=5)
        self.smtp.stop()
