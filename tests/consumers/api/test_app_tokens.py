"""The consumer app's tokens: signing in with a one-time code, access-token expiry on the project
clock, refresh-token rotation and reuse detection (the family revoked), sign-out on this device and
everywhere, and tokens that are forged, of the wrong kind or signed under a rotated secret."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
import time_machine
from django.test import override_settings

from bnpl.core import clock
from bnpl.core.models import AuditLogEntry, Event, IdempotencyKey
from bnpl.core.services import clock_advance
from consumers.models import Consumer, Device, OneTimeCode, RefreshTokenFamily
from tests.consumers.api.conftest import AppClient, SignIn
from tests.consumers.conftest import another_code, latest_code
from tests.helpers import row_counts

pytestmark = pytest.mark.django_db

ADA = "ada@example.com"


def family_events(family: str) -> list[str]:
    return list(Event.objects.filter(object_id=family).order_by("id").values_list("type", flat=True))


def test_a_first_sign_in_signs_up_trusts_the_device_and_issues_tokens(sign_in: SignIn) -> None:
    start = clock.now().replace(microsecond=0)

    with time_machine.travel(start, tick=False):
        app = sign_in(ADA, device_name="Ada's iPhone")

    consumer = Consumer.objects.get(email=ADA)
    device = Device.objects.get()
    family = RefreshTokenFamily.objects.get()
    assert app.body["object"] == "sign_in"
    assert app.body["consumer"] == consumer.public_id
    assert app.body["token_type"] == "Bearer"
    assert app.body["access_token_expires_at"] == (start + dt.timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    assert app.body["refresh_token_expires_at"] == (start + dt.timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert app.body["device"]["id"] == device.public_id
    assert (app.body["device"]["status"], app.body["device"]["trusted_by"]) == ("trusted", "first_sign_in")
    assert app.body["device"]["current"] is True
    assert len(app.body["device_secret"]) >= 40
    assert device.secret_hash not in app.body["device_secret"]  # only a hash is kept
    claims = jwt.decode(app.body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == consumer.public_id
    assert (claims["dev"], claims["fam"], claims["typ"]) == (device.public_id, family.public_id, "access")
    assert family_events(device.public_id) == ["device.registered"]
    assert family_events(family.public_id) == ["refresh_token_family.created"]
    audit = AuditLogEntry.objects.get(object_id=device.public_id)
    assert (audit.actor_kind, audit.actor_identifier) == ("consumer", consumer.public_id)
    listed = app.client.get("devices")
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [device.public_id]


def test_a_wrong_code_counts_its_attempt_and_signs_no_one_in(
    sign_in: SignIn, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    client = AppClient()
    with django_capture_on_commit_callbacks(execute=True):
        token = client.post("auth/codes", {"identifier": ADA}).json()["sign_in_token"]
    body = {"identifier": ADA, "sign_in_token": token, "device_name": "Phone", "code": another_code(latest_code(ADA))}
    before = row_counts()

    response = client.post("auth/sign-in", body)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "code_incorrect",
        "message": "That code is not right. 4 attempts left.",
        "param": "code",
    }
    assert OneTimeCode.objects.get().attempts == 1  # committed though the request failed
    assert not Device.objects.exists() and not RefreshTokenFamily.objects.exists()
    assert row_counts() == before


def test_a_code_asked_for_by_another_sign_in_token_cannot_be_entered(
    sign_in: SignIn, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    client = AppClient()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("auth/codes", {"identifier": ADA})
    stranger_token = "s" * 43

    response = client.post(
        "auth/sign-in",
        {"identifier": ADA, "sign_in_token": stranger_token, "device_name": "Phone", "code": latest_code(ADA)},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "code_not_requested"
    assert not Device.objects.exists()


def test_the_access_token_expires_on_the_project_clock_and_the_refresh_token_renews_it(sign_in: SignIn) -> None:
    app = sign_in(ADA)

    clock_advance(by=dt.timedelta(minutes=15, seconds=1))  # the sandbox clock, not the machine's
    expired = app.client.get("devices")
    refreshed = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token})

    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"
    assert expired["WWW-Authenticate"] == 'Bearer realm="api"'
    assert refreshed.status_code == 200, refreshed.content
    assert AppClient(refreshed.json()["access_token"]).get("devices").status_code == 200


def test_a_refresh_token_expires_after_thirty_days_on_the_project_clock(sign_in: SignIn) -> None:
    app = sign_in(ADA)

    clock_advance(by=dt.timedelta(days=30))
    response = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert response.json()["error"]["param"] == "refresh_token"


def test_refreshing_rotates_the_refresh_token(sign_in: SignIn) -> None:
    app = sign_in(ADA)
    family = RefreshTokenFamily.objects.get()

    response = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token})

    pair = response.json()
    assert response.status_code == 200
    assert pair["object"] == "token_pair"
    assert pair["refresh_token"] != app.refresh_token
    family.refresh_from_db()
    assert family.generation == 2
    assert jwt.decode(pair["refresh_token"], options={"verify_signature": False})["jti"] == family.current_jti
    assert family_events(family.public_id) == ["refresh_token_family.created", "refresh_token_family.rotated"]
    assert AppClient().post("auth/refresh", {"refresh_token": pair["refresh_token"]}).status_code == 200


def test_a_refresh_token_used_twice_revokes_the_whole_family(sign_in: SignIn) -> None:
    app = sign_in(ADA)
    family = RefreshTokenFamily.objects.get()
    rotated = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token}).json()

    reused = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token})

    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "refresh_token_reused"
    family.refresh_from_db()
    assert (family.revoked_reason, family.revoked_at is not None) == ("reuse_detected", True)
    assert family_events(family.public_id)[-1] == "refresh_token_family.revoked"
    # Neither the thief's nor the app's newer tokens work any more.
    newest = AppClient().post("auth/refresh", {"refresh_token": rotated["refresh_token"]})
    assert newest.status_code == 401 and newest.json()["error"]["code"] == "token_revoked"
    for token in (app.body["access_token"], rotated["access_token"]):
        response = AppClient(token).get("devices")
        assert response.status_code == 401 and response.json()["error"]["code"] == "token_revoked"


def test_a_refresh_retried_with_the_same_idempotency_key_gets_the_same_pair_back(sign_in: SignIn) -> None:
    app = sign_in(ADA)

    first = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token}, idempotency_key="refresh-1")
    retry = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token}, idempotency_key="refresh-1")

    assert retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert RefreshTokenFamily.objects.get().revoked_at is None  # a retry is not a reuse
    stored = IdempotencyKey.objects.get(key="refresh-1")
    assert stored.owner == Consumer.objects.get().public_id and stored.merchant_id is None
    assert first.json()["refresh_token"].encode() not in bytes(stored.response_body or b"")  # kept encrypted


def test_sign_out_ends_this_devices_tokens_only_and_the_device_signs_in_again_as_itself(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")
    phone_device = Device.objects.get(public_id=phone.device_id)

    response = phone.client.post("auth/sign-out")

    assert response.status_code == 200
    assert response.json() == {"object": "sign_out", "sessions_ended": 1}
    assert phone.client.get("device").json()["error"]["code"] == "token_revoked"
    refused = AppClient().post("auth/refresh", {"refresh_token": phone.refresh_token})
    assert refused.json()["error"]["code"] == "token_revoked"
    assert tablet.client.get("device").status_code == 200
    assert RefreshTokenFamily.objects.get(device=phone_device).revoked_reason == "signed_out"
    again = sign_in(ADA, device_id=phone.device_id, device_secret=phone.body["device_secret"])
    assert again.device_id == phone.device_id
    assert again.body["device"]["status"] == "trusted"
    assert again.body["device_secret"] is None
    assert Device.objects.count() == 2


def test_signing_in_again_with_a_wrong_device_secret_is_refused_and_the_code_stays_usable(
    sign_in: SignIn, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    phone = sign_in(ADA)
    client = AppClient()
    with django_capture_on_commit_callbacks(execute=True):
        token = client.post("auth/codes", {"identifier": ADA}).json()["sign_in_token"]
    body = {"identifier": ADA, "sign_in_token": token, "device_name": "Phone", "code": latest_code(ADA)}

    refused = client.post("auth/sign-in", {**body, "device_id": phone.device_id, "device_secret": "x" * 43})
    accepted = client.post("auth/sign-in", body)

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "device_unknown"
    assert refused.json()["error"]["param"] == "device_id"
    assert accepted.status_code == 201  # the refusal rolled back: the code was not used up


def test_sign_out_everywhere_ends_every_devices_tokens(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")
    phone.client.post(f"devices/{tablet.device_id}/approve")

    response = phone.client.post("auth/sign-out-everywhere")

    assert response.json() == {"object": "sign_out", "sessions_ended": 2}
    for app in (phone, tablet):
        assert app.client.get("device").json()["error"]["code"] == "token_revoked"
    assert set(RefreshTokenFamily.objects.values_list("revoked_reason", flat=True)) == {"signed_out_everywhere"}
    assert set(Device.objects.values_list("status", flat=True)) == {"trusted"}  # the devices stay


def test_a_pending_device_cannot_sign_everyone_out(sign_in: SignIn) -> None:
    sign_in(ADA, device_name="Phone")
    stranger = sign_in(ADA, device_name="Unknown")

    response = stranger.client.post("auth/sign-out-everywhere")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "device_not_trusted"
    assert not RefreshTokenFamily.objects.filter(revoked_at__isnull=False).exists()


def test_forged_mistyped_and_missing_tokens_are_refused(sign_in: SignIn) -> None:
    app = sign_in(ADA)
    claims = jwt.decode(app.body["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "not-our-secret-" + "z" * 32, algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]

    for token, code in [
        (forged, "token_invalid"),
        (unsigned, "token_invalid"),
        (app.refresh_token, "token_invalid"),  # a refresh token is not an access token
        ("garbage", "token_invalid"),
        ("x" * 5000, "token_invalid"),
    ]:
        response = AppClient(token).get("devices")
        assert (response.status_code, response.json()["error"]["code"]) == (401, code), token[:20]
    assert AppClient().get("devices").json()["error"]["code"] == "token_missing"
    as_refresh = AppClient().post("auth/refresh", {"refresh_token": app.body["access_token"]})
    assert as_refresh.json()["error"]["code"] == "token_invalid"


def test_tokens_signed_before_a_secret_rotation_still_work(sign_in: SignIn) -> None:
    with override_settings(CONSUMER_TOKEN_SECRET="the-old-secret-" + "o" * 30):
        app = sign_in(ADA)

    with override_settings(
        CONSUMER_TOKEN_SECRET="the-new-secret-" + "n" * 30,
        CONSUMER_TOKEN_SECRET_FALLBACKS=["the-old-secret-" + "o" * 30],
    ):
        assert app.client.get("devices").status_code == 200
        renewed = AppClient().post("auth/refresh", {"refresh_token": app.refresh_token})
    assert renewed.status_code == 200

    with override_settings(CONSUMER_TOKEN_SECRET="the-new-secret-" + "n" * 30):
        assert app.client.get("devices").json()["error"]["code"] == "token_invalid"


def test_a_blocked_consumer_is_refused_at_once(sign_in: SignIn) -> None:
    app = sign_in(ADA)
    Consumer.objects.filter(email=ADA).update(status=Consumer.Status.BLOCKED)

    response = app.client.get("devices")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "consumer_blocked"


def test_every_post_needs_an_idempotency_key(sign_in: SignIn) -> None:
    app = sign_in(ADA)

    response = app.client.post("auth/sign-out", idempotency_key=None)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"
    assert RefreshTokenFamily.objects.get().revoked_at is None


def test_two_consumers_keys_do_not_collide(sign_in: SignIn) -> None:
    ada = sign_in(ADA)
    bob = sign_in("bob@example.com")

    first = ada.client.post("auth/sign-out", idempotency_key="same-key")
    second = bob.client.post("auth/sign-out", idempotency_key="same-key")

    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in second
    assert RefreshTokenFamily.objects.filter(revoked_at__isnull=False).count() == 2


def test_each_consumer_is_rate_limited_across_their_devices(sign_in: SignIn, settings) -> None:  # type: ignore[no-untyped-def]
    phone = sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")
    phone.client.post(f"devices/{tablet.device_id}/approve")
    bob = sign_in("bob@example.com")
    settings.API_THROTTLE_RATE = "3/min"

    statuses = [app.client.get("device").status_code for app in (phone, tablet, phone, tablet)]
    refused = phone.client.get("device")

    assert statuses == [200, 200, 200, 429]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert bob.client.get("device").status_code == 200  # another consumer's budget is their own


def test_a_sign_in_retried_with_the_same_key_gets_the_same_answer_and_one_device(
    sign_in: SignIn,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    client = AppClient()
    with django_capture_on_commit_callbacks(execute=True):
        token = client.post("auth/codes", {"identifier": ADA}).json()["sign_in_token"]
    body = {"identifier": ADA, "sign_in_token": token, "device_name": "Phone", "code": latest_code(ADA)}

    first = client.post("auth/sign-in", body, idempotency_key="sign-in-1")
    retry = client.post("auth/sign-in", body, idempotency_key="sign-in-1")

    assert first.status_code == retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Device.objects.count() == RefreshTokenFamily.objects.count() == 1
    stored = IdempotencyKey.objects.get(key="sign-in-1")
    assert stored.owner.startswith("sign_in:") and ADA not in stored.owner
    assert first.json()["device_secret"].encode() not in bytes(stored.response_body or b"")
