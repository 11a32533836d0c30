"""The HTTP bureau adapter against a real HTTPS server this module starts on 127.0.0.1 (its own
certificate authority, trusted through BUREAU_HTTP_CA_BUNDLE): what it sends, the documented answer
read into a report, a missing file as a thin file, and every way an answer can fail (slow, refused,
redirected, malformed, another consumer's, too large) as BureauUnavailableError, which the decision
turns into "bureau unavailable" without deciding. And one bureau per mode: a test-mode decision
never reaches the live bureau."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from bnpl.checkout.models import Order
from decisioning.bureau import THIN_FILE, BureauReport, BureauUnavailableError, HttpBureau, get_bureau
from decisioning.models import CreditDecision, ModelVersion
from decisioning.registry import ModelUnavailableError
from tests.decisioning.test_decide import _confirm
from tests.merchants.factories import Tenant

API_KEY = "bureau-key-for-tests"
REPORT = {
    "revolving_utilization": 0.31,
    "late_30_59_count": 1,
    "late_60_89_count": 0,
    "late_90_plus_count": 0,
    "debt_ratio": 0.22,
    "monthly_income": 5400,
    "open_credit_lines": 7,
    "real_estate_loans": None,
}


@dataclass
class Answer:
    """What the server does with the next request: status, body (a dict is sent as JSON), extra
    headers, a pause before answering, and a pause between each byte of the body."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0


class BureauHandler(BaseHTTPRequestHandler):
    answer: ClassVar[Answer | Callable[[dict[str, Any]], Answer]] = Answer()
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        request = {
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "body": json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))),
        }
        BureauHandler.received.append(request)
        configured = BureauHandler.answer  # read on the class: a function stays unbound
        answer = configured(request) if callable(configured) else configured
        time.sleep(answer.delay)
        raw = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        for name, value in {"Content-Type": "application/json", **answer.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if not answer.drip:
            self.wfile.write(raw)
            return
        for byte in raw:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(answer.drip)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (time-outs) breaks the pipe: expected here


def _certificate_authority(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate for 127.0.0.1 signed by it: (CA file, cert file, key file)."""
    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key: Any, issuer: x509.Name, signer: Any, *, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bureau test CA")])
    ca_cert = certificate("Bureau test CA", ca_key, ca_name, ca_key, ca=True)
    server_cert = certificate("127.0.0.1", server_key, ca_name, ca_key, ca=False)
    files = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    files[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files


@pytest.fixture(scope="module")
def bureau_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The HTTPS bureau on a free port: (its URL, the CA file that trusts it)."""
    ca_file, cert_file, key_file = _certificate_authority(tmp_path_factory.mktemp("bureau-tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = QuietServer(("127.0.0.1", 0), BureauHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/v1/reports", ca_file
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_bureau(settings: Any, bureau_server: tuple[str, Path]) -> HttpBureau:
    url, ca_file = bureau_server
    settings.BUREAU_HTTP_URL = url
    settings.BUREAU_HTTP_API_KEY = API_KEY
    settings.BUREAU_HTTP_CA_BUNDLE = str(ca_file)
    settings.BUREAU_HTTP_TIMEOUT_SECONDS = 0.5
    BureauHandler.received = []
    BureauHandler.answer = lambda request: Answer(
        body={"consumer_reference": request["body"]["consumer_reference"], "found": True, "report": REPORT}
    )
    return HttpBureau()


def _unavailable(bureau: HttpBureau, answer: Answer, consumer_id: str = "con_1") -> str:
    BureauHandler.answer = answer
    with pytest.raises(BureauUnavailableError) as raised:
        bureau.report(consumer_id=consumer_id, email="ada@example.com")
    return str(raised.value)


# --- The adapter ------------------------------------------------------------------------------------


def test_the_consumer_reference_goes_over_https_with_the_key_and_the_answer_becomes_a_report(
    http_bureau: HttpBureau,
) -> None:
    report = http_bureau.report(consumer_id="con_abc", email="ada@example.com")

    assert report == BureauReport(
        revolving_utilization=0.31,
        late_30_59_count=1,
        late_60_89_count=0,
        late_90_plus_count=0,
        debt_ratio=0.22,
        monthly_income=5400.0,
        open_credit_lines=7,
        real_estate_loans=None,  # null: unknown, never zero
    )
    assert BureauHandler.received == [
        {"path": "/v1/reports", "authorization": f"Bearer {API_KEY}", "body": {"consumer_reference": "con_abc"}}
    ]  # the reference only: no email, no name


def test_no_file_at_the_bureau_is_a_thin_file(http_bureau: HttpBureau) -> None:
    BureauHandler.answer = Answer(body={"consumer_reference": "con_1", "found": False})
    assert http_bureau.report(consumer_id="con_1", email=None) == THIN_FILE


def test_a_slow_bureau_is_unavailable_within_the_time_limit(http_bureau: HttpBureau) -> None:
    answer = {"consumer_reference": "con_1", "found": True, "report": REPORT}
    started = time.monotonic()
    assert "could not be reached" in _unavailable(http_bureau, Answer(body=answer, delay=2.0))
    assert time.monotonic() - started < 1.5

    started = time.monotonic()  # each byte in time, the whole too late
    assert "too slowly" in _unavailable(http_bureau, Answer(body=answer, drip=0.1))
    assert time.monotonic() - started < 2.0


def test_refusals_redirects_and_broken_answers_are_unavailable(http_bureau: HttpBureau) -> None:
    good = {"consumer_reference": "con_1", "found": True, "report": REPORT}
    cases = {
        "HTTP 500": Answer(status=500, body={"error": "down"}),
        "HTTP 401": Answer(status=401, body={"error": "bad key"}),
        "HTTP 302": Answer(status=302, body={}, headers={"Location": "https://example.com/"}),
        "not JSON": Answer(body=b"<html>maintenance</html>"),
        "another consumer": Answer(body={**good, "consumer_reference": "con_2"}),
        "has no report": Answer(body={"consumer_reference": "con_1", "found": True}),
        "no monthly_income": Answer(
            body={**good, "report": {k: v for k, v in REPORT.items() if k != "monthly_income"}}
        ),
        "late_30_59_count is not a count": Answer(body={**good, "report": {**REPORT, "late_30_59_count": -1}}),
        "debt_ratio is not a number": Answer(body={**good, "report": {**REPORT, "debt_ratio": "0.2"}}),
        "open_credit_lines is not a count": Answer(body={**good, "report": {**REPORT, "open_credit_lines": True}}),
        "too large": Answer(body={**good, "padding": "x" * 70_000}),
    }
    for expected, answer in cases.items():
        assert expected in _unavailable(http_bureau, answer), expected
    nan = json.dumps(good).replace("0.22", "NaN").encode()
    assert "not JSON" in _unavailable(http_bureau, Answer(body=nan))


def test_a_certificate_not_from_the_trusted_authority_is_refused(http_bureau: HttpBureau, settings: Any) -> None:
    settings.BUREAU_HTTP_CA_BUNDLE = ""  # the system's authorities: they never signed this server
    assert "SSLError" in _unavailable(HttpBureau(), Answer(body={}))
    assert BureauHandler.received == []


def test_the_adapter_refuses_to_be_built_without_https_a_key_or_a_sane_time_limit(settings: Any) -> None:
    settings.BUREAU_HTTP_URL, settings.BUREAU_HTTP_API_KEY = "http://bureau.example.com/v1", ""
    settings.BUREAU_HTTP_TIMEOUT_SECONDS, settings.BUREAU_HTTP_CA_BUNDLE = 0, "/nonexistent/ca.pem"
    with pytest.raises(ImproperlyConfigured) as refused:
        HttpBureau()
    for name in ("BUREAU_HTTP_URL", "BUREAU_HTTP_API_KEY", "BUREAU_HTTP_TIMEOUT_SECONDS", "BUREAU_HTTP_CA_BUNDLE"):
        assert name in str(refused.value)


# --- One bureau per mode, and the decision ---------------------------------------------------------


def test_test_mode_takes_only_a_sandbox_bureau(settings: Any, http_bureau: HttpBureau) -> None:
    settings.BUREAU_PROVIDER_TEST = "decisioning.bureau.HttpBureau"
    with pytest.raises(ImproperlyConfigured, match="BUREAU_PROVIDER_TEST"):
        get_bureau(livemode=False)
    settings.BUREAU_PROVIDER_LIVE = "decisioning.bureau.HttpBureau"
    assert isinstance(get_bureau(livemode=True), HttpBureau)
    settings.BUREAU_PROVIDER_LIVE = ""
    with pytest.raises(ImproperlyConfigured, match="BUREAU_PROVIDER_LIVE is not set"):
        get_bureau(livemode=True)


@pytest.mark.django_db
def test_a_test_mode_decision_never_reaches_the_live_bureau(
    settings: Any, tenant: Tenant, champion: ModelVersion, http_bureau: HttpBureau
) -> None:
    settings.BUREAU_PROVIDER_LIVE = "decisioning.bureau.HttpBureau"
    result, decision = _confirm(tenant, "ida+clean@example.com")  # a test-mode checkout
    assert result.order is not None and decision.livemode is False
    assert BureauHandler.received == []


@pytest.mark.django_db
def test_an_unavailable_live_bureau_stops_the_decision_with_a_clear_error(
    settings: Any, tenant: Tenant, champion: ModelVersion, http_bureau: HttpBureau
) -> None:
    settings.BUREAU_PROVIDER_LIVE = "decisioning.bureau.HttpBureau"
    BureauHandler.answer = Answer(status=503, body={"error": "maintenance"})
    with pytest.raises(ModelUnavailableError) as raised:
        _live_confirm(tenant)
    assert (raised.value.code, raised.value.status_code) == ("bureau_unavailable", 503)
    assert len(BureauHandler.received) == 1
    assert not Order.objects.exists() and not CreditDecision.objects.exists()


@pytest.mark.django_db
def test_a_live_decision_scores_the_live_bureaus_report(
    settings: Any, tenant: Tenant, champion: ModelVersion, http_bureau: HttpBureau
) -> None:
    settings.BUREAU_PROVIDER_LIVE = "decisioning.bureau.HttpBureau"
    _live_confirm(tenant)

    decision = CreditDecision.objects.get()
    assert decision.livemode is True and len(BureauHandler.received) == 1
    assert decision.model_inputs["MonthlyIncome"] == 5400.0
    assert decision.model_inputs["RevolvingUtilizationOfUnsecuredLines"] == 0.31
    assert decision.outcome == "declined"  # the file's late payment, stated as the reason
    assert decision.reasons[0]["code"] == "NumberOfTime30-59DaysPastDueNotWorse"


def _live_confirm(tenant: Tenant) -> Any:
    from bnpl.checkout import confirmation as checkout_confirmation
    from bnpl.checkout.step_up import checkout_card_add
    from tests.bnpl.checkout.factories import make_checkout_session, product_for
    from tests.consumers.factories import make_verified_consumer

    session = make_checkout_session(merchant=tenant.merchant, livemode=True)
    consumer = make_verified_consumer(email="ida@example.com")
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    return checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, True), payment_method=card
    )
