"""`make demo` seeds with `seed_demo`; every page it prints must answer 200 with the printed logins."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from consumers.models import Consumer
from merchants.models import Merchant
from tests.helpers import totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_output(settings, tmp_path) -> str:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_the_seed_is_repeatable_and_prints_the_same_key(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    key = re.search(r"sk_test_\w+", first.getvalue())
    assert key and key.group(0) in second.getvalue()
    assert Merchant.objects.count() == 1
    assert Merchant.objects.get().status == Merchant.Status.ACTIVE


def test_every_printed_url_answers_200(demo_output: str) -> None:
    urls = re.findall(r"https?://\S+", demo_output)
    assert len(urls) >= 6
    anonymous = Client()
    for url in urls:
        path = _path(url)
        if (
            path.startswith("/merchant/")
            or path == "/account/"
            or path.startswith("/admin/")
            or path == "/api/v1/account"
        ):
            continue  # need a login; checked below
        assert anonymous.get(path).status_code == 200, path


def test_the_printed_logins_open_the_dashboard_the_admin_and_the_api(demo_output: str) -> None:
    """Through the sign-in pages, with the second factor the demo keeps on: the owner types the code
    an authenticator app shows for the printed key; the operator uses a printed backup code."""
    owner = re.search(r"Merchant dashboard\s+\S+\s+(\S+) / (\S+)\s+authenticator key (\S+)", demo_output)
    operator = re.search(
        r"Admin \(operators\)\s+\S+\s+(\S+) / (\S+)\s+authenticator key (\S+)\s+backup codes (\S+)", demo_output
    )
    key = re.search(r"Test secret key\s+(\S+)", demo_output)
    assert owner and operator and key

    merchant_client = Client()
    password_step = merchant_client.post("/merchant/login", {"username": owner.group(1), "password": owner.group(2)})
    assert password_step["Location"].startswith("/merchant/login/verify")
    code_step = merchant_client.post(password_step["Location"], {"token": totp_code(owner.group(3))})
    assert code_step.status_code == 302 and code_step["Location"] == "/merchant/"
    dashboard = merchant_client.get("/merchant/")
    assert dashboard.status_code == 200 and b"Demo Outfitters" in dashboard.content

    admin_client = Client()
    signed_in = admin_client.post(
        "/admin/login/?next=/admin/",
        {"username": operator.group(1), "password": operator.group(2), "otp_token": operator.group(4)},
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/core/clockstate/").status_code == 200

    account = Client().get("/api/v1/account", headers={"Authorization": f"Bearer {key.group(1)}"})
    assert account.status_code == 200 and account.json()["name"] == "Demo Outfitters"


def test_the_seed_keeps_each_authenticator_and_prints_only_unused_backup_codes(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("seed_demo", stdout=first)
    codes = re.search(
        r"Admin \(operators\)[^\n]*\n[^\n]*authenticator key (\S+)\s+backup codes ([^\n]+)", first.getvalue()
    )
    assert codes
    used = codes.group(2).split()[0]
    assert (
        Client()
        .post("/admin/login/", {"username": "operator@bnpl.test", "password": "operator-demo-1", "otp_token": used})
        .status_code
        == 302
    )

    call_command("seed_demo", stdout=second)

    again = re.search(
        r"Admin \(operators\)[^\n]*\n[^\n]*authenticator key (\S+)\s+backup codes ([^\n]+)", second.getvalue()
    )
    assert again and again.group(1) == codes.group(1)
    assert again.group(2).split() == codes.group(2).split()[1:]


def test_the_printed_consumer_can_sign_in_through_the_sandbox_inbox(
    demo_output: str, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    email = re.search(r"sign in as (\S+);", demo_output)
    assert email and Consumer.objects.filter(email=email.group(1)).exists()
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/account/sign-in", {"identifier": email.group(1)}).status_code == 302
    inbox = client.get("/sandbox/inbox", {"to": email.group(1)}).content.decode()
    code = re.search(r"code is (\d{6})", inbox)
    assert code
    assert client.post("/account/verify", {"code": code.group(1)}).status_code == 302
    portal = client.get("/account/")
    assert portal.status_code == 200 and email.group(1) in portal.content.decode()
