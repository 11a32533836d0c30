"""`make demo` seeds with `seed_demo`; every page it prints must answer 200 with the printed logins."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from consumers.models import Consumer
from merchants.models import Merchant

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
    owner = re.search(r"Merchant dashboard\s+\S+\s+(\S+) / (\S+)", demo_output)
    operator = re.search(r"Admin \(operators\)\s+\S+\s+(\S+) / (\S+)", demo_output)
    key = re.search(r"Test secret key\s+(\S+)", demo_output)
    assert owner and operator and key

    merchant_client = Client()
    assert merchant_client.login(username=owner.group(1), password=owner.group(2))
    dashboard = merchant_client.get("/merchant/")
    assert dashboard.status_code == 200 and b"Demo Outfitters" in dashboard.content

    admin_client = Client()
    assert admin_client.login(username=operator.group(1), password=operator.group(2))
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/core/clockstate/").status_code == 200

    account = Client().get("/api/v1/account", headers={"Authorization": f"Bearer {key.group(1)}"})
    assert account.status_code == 200 and account.json()["name"] == "Demo Outfitters"


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
