"""Consumer app API, items 1 and 2 of issue 20: signing in with a one-time code, the app's tokens
(access, rotating refresh, sign-out here and everywhere), and the consumer's devices (the calling
device's own verification; listing, approving, denying and revoking)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api.errors import error_response
from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.serializers import InputSerializer, NoInput, StrictCharField, StrictChoiceField
from bnpl.core.errors import AuthenticationError
from bnpl.core.net import client_key
from consumers import app_auth, devices, selectors
from consumers.app_api.base import AnonymousConsumerAppApi, ConsumerAppApi
from consumers.app_tokens import TokenKind, token_decode
from consumers.models import Device
from consumers.services import CODE_DIGITS, destination_parse
from consumers.token_families import TokenPair, family_refresh

TAGS = ["app sign-in"]
DEVICE_TAGS = ["devices"]


# --- Representations --------------------------------------------------------------------------


class DeviceRepresentation(serializers.Serializer[Device]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    platform = serializers.ChoiceField(choices=Device.Platform.choices)
    status = serializers.ChoiceField(choices=Device.Status.choices)
    trusted_by = serializers.CharField(allow_null=True, help_text="first_sign_in, approval or code; null until trusted")
    approved_by = serializers.CharField(allow_null=True, help_text="The device that approved this one")
    current = serializers.SerializerMethodField(help_text="Whether this is the device making the request")
    created_at = serializers.DateTimeField()
    trusted_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True, help_text="When it was denied or revoked")
    last_used_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, device: Device) -> str:
        return "device"

    def get_current(self, device: Device) -> bool:
        current = self.context.get("device")
        return current is not None and current.pk == device.pk

    def to_representation(self, device: Device) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(device)
        data["trusted_by"] = device.trusted_by or None
        data["approved_by"] = device.approved_by.public_id if device.approved_by_id and device.approved_by else None
        return data


class TokenPairRepresentation(serializers.Serializer[Any]):
    object = serializers.CharField(default="token_pair")
    token_type = serializers.CharField(default="Bearer")
    access_token = serializers.CharField(help_text="Send as `Authorization: Bearer …`; 15 minutes")
    access_token_expires_at = serializers.DateTimeField()
    refresh_token = serializers.CharField(help_text="Exchange once at POST /auth/refresh; a second use signs you out")
    refresh_token_expires_at = serializers.DateTimeField()


def _pair_data(pair: TokenPair) -> dict[str, Any]:
    return {
        "access_token": pair.access_token,
        "access_token_expires_at": pair.access_token_expires_at,
        "refresh_token": pair.refresh_token,
        "refresh_token_expires_at": pair.refresh_token_expires_at,
    }


class SignInRepresentation(TokenPairRepresentation):
    object = serializers.CharField(default="sign_in")
    consumer = serializers.CharField(help_text="The consumer's id (con_…)")
    device = DeviceRepresentation()
    device_secret = serializers.CharField(
        allow_null=True,
        help_text="Shown once, for a device registered by this sign-in: keep it to sign in again on this device "
        "(with device_id) without asking to be trusted anew",
    )


class SignInCodeRepresentation(serializers.Serializer[Any]):
    object = serializers.CharField(default="sign_in_code")
    channel = serializers.ChoiceField(choices=["email", "sms"])
    sign_in_token = serializers.CharField(help_text="Send it back with the code (POST /auth/sign-in)")


class SignOutRepresentation(serializers.Serializer[Any]):
    object = serializers.CharField(default="sign_out")
    sessions_ended = serializers.IntegerField(help_text="Sign-ins of the app whose tokens ended")


class VerificationCodeRepresentation(serializers.Serializer[Any]):
    object = serializers.CharField(default="device_verification_code")
    channel = serializers.ChoiceField(choices=["email", "sms"])


# --- Signing in -------------------------------------------------------------------------------


class SignInCodeInput(InputSerializer):
    identifier = StrictCharField(max_length=254, help_text="The consumer's email address or mobile number")
    sign_in_token = StrictCharField(
        min_length=32,
        max_length=100,
        required=False,
        help_text="The token of an earlier request, to send a new code for the same sign-in",
    )


class SignInCodeRequestApi(AnonymousConsumerAppApi):
    response_holds_secrets = True
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {
            400: ("identifier_invalid", "email_invalid", "phone_invalid", "sms_unavailable"),
            429: (
                "code_resend_too_soon",
                "code_hourly_limit",
                "code_destination_limit",
                "code_address_limit",
                "code_service_busy",
            ),
        }
    }

    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        data = SignInCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        return {"owner": app_auth.sign_in_owner(destination_parse(data.validated_data["identifier"]))}

    @extend_schema(
        operation_id="app_sign_in_code_request",
        description="Send a one-time code to the consumer's email or phone (signing up if the address is new). "
        "Limits as on the web: one a minute per sign-in, a few an hour per address.",
        request=SignInCodeInput,
        responses={201: SignInCodeRepresentation},
        examples=[OpenApiExample("By email", value={"identifier": "ada@example.com"}, request_only=True)],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        data = SignInCodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data.get("sign_in_token") or app_auth.new_sign_in_token()
        destination = app_auth.app_sign_in_code_request(
            identifier=data.validated_data["identifier"], sign_in_token=token, address=client_key(request._request)
        )
        body = {"channel": destination.channel, "sign_in_token": token}
        return Response(SignInCodeRepresentation(body).data, status=status.HTTP_201_CREATED)


class SignInInput(InputSerializer):
    identifier = StrictCharField(max_length=254)
    code = StrictCharField(max_length=20, help_text=f"The {CODE_DIGITS}-digit code")
    sign_in_token = StrictCharField(min_length=32, max_length=100, help_text="From POST /auth/codes")
    device_name = StrictCharField(max_length=100, help_text="How the consumer will recognize this device")
    device_platform = StrictChoiceField(choices=Device.Platform.choices, default=Device.Platform.OTHER)
    push_token = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    device_id = StrictCharField(max_length=40, required=False, help_text="This device's id, signing in again")
    device_secret = StrictCharField(max_length=100, required=False, help_text="With device_id")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("device_id")) != bool(attrs.get("device_secret")):
            missing = "device_secret" if attrs.get("device_id") else "device_id"
            raise serializers.ValidationError({missing: ["device_id and device_secret go together."]}, code="required")
        return attrs


class SignInApi(AnonymousConsumerAppApi):
    handler_atomic = False  # wrong attempts must commit (consumers.services)
    response_holds_secrets = True
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {
            400: (
                "identifier_invalid",
                "email_invalid",
                "phone_invalid",
                "code_malformed",
                "code_incorrect",
                "code_not_requested",
                "code_expired",
                "code_attempts_exceeded",
                "device_unknown",
            ),
            403: ("consumer_blocked",),
            409: ("device_ended",),
            429: ("code_verify_address_limit", "code_failed_verify_limit"),
        }
    }

    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        data = SignInInput(data=request.data)
        data.is_valid(raise_exception=True)
        return {"owner": app_auth.sign_in_owner(destination_parse(data.validated_data["identifier"]))}

    @extend_schema(
        operation_id="app_sign_in",
        description="Enter the code: the consumer is signed in (or up) on this device. The first device of a "
        "consumer is trusted at once; a later one is `pending` until a trusted device approves it or it enters a "
        "code (POST /device/verification-code, then POST /device/verify). To sign in again on a device registered "
        "before, send its `device_id` and `device_secret`.",
        request=SignInInput,
        responses={201: SignInRepresentation},
        examples=[
            OpenApiExample(
                "A new phone",
                value={
                    "identifier": "ada@example.com",
                    "code": "123456",
                    "sign_in_token": "Yb0Tq6o3hZf5pWw2c8S1eJmR4uNvKxLd7aGiQzEtHyB",
                    "device_name": "Ada's iPhone",
                    "device_platform": "ios",
                },
                request_only=True,
            )
        ],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        data = SignInInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        sign_in = app_auth.app_sign_in(
            identifier=values["identifier"],
            code=values["code"],
            sign_in_token=values["sign_in_token"],
            address=client_key(request._request),
            device=app_auth.DeviceInput(
                name=values["device_name"],
                platform=values["device_platform"],
                push_token=values["push_token"],
                device_id=values.get("device_id", ""),
                device_secret=values.get("device_secret", ""),
            ),
        )
        body = {
            **_pair_data(sign_in.tokens),
            "consumer": sign_in.consumer.public_id,
            "device": sign_in.device,
            "device_secret": sign_in.device_secret,
        }
        representation = SignInRepresentation(body, context={"device": sign_in.device})
        return Response(representation.data, status=status.HTTP_201_CREATED)


class RefreshInput(InputSerializer):
    refresh_token = StrictCharField(max_length=2000)


class TokenRefreshApi(AnonymousConsumerAppApi):
    response_holds_secrets = True
    common_errors: ClassVar[dict[int, str]] = {
        **AnonymousConsumerAppApi.common_errors,
        401: "The refresh token is not valid. Codes: `token_invalid`, `token_expired`, `token_revoked` (signed out "
        "or the device was removed), `refresh_token_reused` (it had been used: every token of this sign-in ended)",
    }
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {403: ("consumer_blocked",)}}

    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        claims = token_decode(data.validated_data["refresh_token"], kind=TokenKind.REFRESH, param="refresh_token")
        return {"owner": claims.consumer}

    @extend_schema(
        operation_id="app_token_refresh",
        description="Exchange the refresh token for a new pair. Each refresh token works once: a second use "
        "means it was copied, and every token of that sign-in ends (401 `refresh_token_reused`). A retry with the "
        "same Idempotency-Key gets the same new pair back.",
        request=RefreshInput,
        responses={200: TokenPairRepresentation},
        examples=[OpenApiExample("Refresh", value={"refresh_token": "eyJhbGciOiJIUzI1NiJ9…"}, request_only=True)],
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = family_refresh(refresh_token=data.validated_data["refresh_token"])
        if outcome.pair is None:  # the family's revocation commits with this answer
            response = error_response(
                AuthenticationError(
                    "This refresh token was used before: every token of this sign-in has ended. Sign in again.",
                    code="refresh_token_reused",
                    param="refresh_token",
                )
            )
            response["WWW-Authenticate"] = 'Bearer realm="consumer-api"'
            return response
        return Response(TokenPairRepresentation(_pair_data(outcome.pair)).data)


class SignOutApi(ConsumerAppApi):
    allow_pending_device = True

    @extend_schema(
        operation_id="app_sign_out",
        description="End this device's tokens. The device stays yours: sign in again with a code and its "
        "device_id and device_secret.",
        request=None,
        responses={200: SignOutRepresentation},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        ended = app_auth.app_sign_out(principal=self.principal)
        return Response(SignOutRepresentation({"sessions_ended": ended}).data)


class SignOutEverywhereApi(ConsumerAppApi):
    @extend_schema(
        operation_id="app_sign_out_everywhere",
        description="End the app's tokens on every device of the consumer, this one included.",
        request=None,
        responses={200: SignOutRepresentation},
        tags=TAGS,
    )
    def post(self, request: Request) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        ended = app_auth.app_sign_out_everywhere(consumer=self.consumer)
        return Response(SignOutRepresentation({"sessions_ended": ended}).data)


# --- This device ------------------------------------------------------------------------------


class CurrentDeviceApi(ConsumerAppApi):
    allow_pending_device = True

    @extend_schema(operation_id="app_device_current", responses=DeviceRepresentation, tags=DEVICE_TAGS)
    def get(self, request: Request) -> Response:
        return Response(DeviceRepresentation(self.device, context=self.representation_context).data)


class DeviceVerificationCodeApi(ConsumerAppApi):
    allow_pending_device = True
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {
            400: ("sms_unavailable",),
            409: ("device_not_pending", "no_code_destination"),
            429: (
                "code_resend_too_soon",
                "code_hourly_limit",
                "code_destination_limit",
                "code_address_limit",
                "code_service_busy",
            ),
        }
    }

    @extend_schema(
        operation_id="app_device_verification_code_send",
        description="Send a one-time code to the consumer's own email (else phone) to trust this pending device "
        "without another device's approval.",
        request=None,
        responses={201: VerificationCodeRepresentation},
        tags=DEVICE_TAGS,
    )
    def post(self, request: Request) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        channel = devices.device_verification_code_send(device=self.device, address=client_key(request._request))
        return Response(VerificationCodeRepresentation({"channel": channel}).data, status=status.HTTP_201_CREATED)


class DeviceVerifyInput(InputSerializer):
    code = StrictCharField(max_length=20, help_text=f"The {CODE_DIGITS}-digit code")


class DeviceVerifyApi(ConsumerAppApi):
    allow_pending_device = True
    handler_atomic = False  # wrong attempts must commit (consumers.services)
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {
            400: ("code_malformed", "code_incorrect", "code_not_requested", "code_expired", "code_attempts_exceeded"),
            409: ("device_not_pending", "no_code_destination"),
            429: ("code_verify_address_limit", "code_failed_verify_limit"),
        }
    }

    @extend_schema(
        operation_id="app_device_verify",
        description="Trust this pending device with the code sent for it.",
        request=DeviceVerifyInput,
        responses={200: DeviceRepresentation},
        examples=[OpenApiExample("The code", value={"code": "123456"}, request_only=True)],
        tags=DEVICE_TAGS,
    )
    def post(self, request: Request) -> Response:
        data = DeviceVerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        device = devices.device_verify_by_code(
            device=self.device, code=data.validated_data["code"], address=client_key(request._request)
        )
        return Response(DeviceRepresentation(device, context=self.representation_context).data)


# --- The consumer's devices -------------------------------------------------------------------


class DeviceListApi(ConsumerAppApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = Device

    @extend_schema(operation_id="app_device_list", responses=DeviceRepresentation(many=True), tags=DEVICE_TAGS)
    def get(self, request: Request) -> Response:
        return self.paginated(
            selectors.device_list(consumer=self.consumer).select_related("approved_by"), DeviceRepresentation
        )


class DeviceDetailApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Device}

    @extend_schema(operation_id="app_device_retrieve", responses=DeviceRepresentation, tags=DEVICE_TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(DeviceRepresentation(self.path_objects["id"], context=self.representation_context).data)


class DeviceApproveApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Device}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("device_not_pending",)}}

    @extend_schema(
        operation_id="app_device_approve",
        description="From a trusted device: trust a pending device of the consumer.",
        request=None,
        responses={200: DeviceRepresentation},
        tags=DEVICE_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        device = devices.device_approve(device=self.path_objects["id"], approver=self.device)
        return Response(DeviceRepresentation(device, context=self.representation_context).data)


class DeviceDenyApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Device}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("device_not_pending",)}}

    @extend_schema(
        operation_id="app_device_deny",
        description="From a trusted device: a pending device is not the consumer's. It is denied and its tokens end.",
        request=None,
        responses={200: DeviceRepresentation},
        tags=DEVICE_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        device = devices.device_deny(device=self.path_objects["id"], approver=self.device)
        return Response(DeviceRepresentation(device, context=self.representation_context).data)


class DeviceRevokeApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Device}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("device_ended",)}}

    @extend_schema(
        operation_id="app_device_revoke",
        description="Remove a device from the account (this one too): its tokens end at once, and it can sign in "
        "again only as a new device.",
        request=None,
        responses={200: DeviceRepresentation},
        tags=DEVICE_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        device = devices.device_revoke(device=self.path_objects["id"])
        return Response(DeviceRepresentation(device, context=self.representation_context).data)
