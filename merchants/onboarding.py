"""Onboarding writes: a merchant signs up, describes its business, adds a payout bank account,
uploads documents and submits its application; operators approve it, ask for more, or reject it.

Each service validates, changes state, and writes the audit row and the outbox event in one
transaction. Approval activates the merchant through ``merchant_approve`` (which opens live keys).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.event_types import register
from bnpl.core.files import sniffed_content_type
from bnpl.core.money import normalize_currency
from bnpl.core.services import change_record
from merchants import services
from merchants.models import BankAccount, BusinessProfile, Membership, Merchant, MerchantDocument

register("business_profile.updated", "The merchant changed its business profile.", merchant_visible=False)
register("business_profile.submitted", "The merchant submitted its application.", merchant_visible=False)
register("business_profile.approved", "An operator approved the application.", merchant_visible=False)
register(
    "business_profile.information_requested",
    "An operator asked the merchant for more information.",
    merchant_visible=False,
)
register("business_profile.rejected", "An operator rejected the application.", merchant_visible=False)
register("bank_account.added", "The merchant added a payout bank account.", merchant_visible=False)
register("bank_account.removed", "The merchant removed a payout bank account.", merchant_visible=False)
register("merchant_document.uploaded", "The merchant uploaded a document.", merchant_visible=False)
register("merchant_document.removed", "The merchant removed a document.", merchant_visible=False)

PROFILE_FIELDS = (
    "legal_name",
    "registration_number",
    "tax_number",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country",
    "website",
    "category",
    "expected_monthly_volume_amount",
    "volume_currency",
)
REQUIRED_PROFILE_FIELDS = (
    "legal_name",
    "registration_number",
    "tax_number",
    "address_line1",
    "city",
    "postal_code",
    "country",
    "category",
)
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_CONTENT_TYPES = ("application/pdf", "image/png", "image/jpeg")
EDITABLE_STATUSES = (BusinessProfile.Status.DRAFT, BusinessProfile.Status.INFORMATION_REQUESTED)


def business_profile_data(profile: BusinessProfile) -> dict[str, object]:
    return {
        "id": profile.public_id,
        "merchant": profile.merchant.public_id,
        **{field: getattr(profile, field) for field in PROFILE_FIELDS},
        "status": profile.status,
        "operator_note": profile.operator_note,
        "submitted_at": profile.submitted_at.isoformat() if profile.submitted_at else None,
        "decided_at": profile.decided_at.isoformat() if profile.decided_at else None,
    }


def bank_account_data(account: BankAccount) -> dict[str, object]:
    """Never the account number: its last four digits only."""
    return {
        "id": account.public_id,
        "holder_name": account.holder_name,
        "bank_name": account.bank_name,
        "routing_number": account.routing_number,
        "account_number_last4": account.account_number_last4,
        "currency": account.currency,
        "is_default": account.is_default,
        "removed": account.removed_at is not None,
    }


def document_data(document: MerchantDocument) -> dict[str, object]:
    return {
        "id": document.public_id,
        "kind": document.kind,
        "original_name": document.original_name,
        "content_type": document.content_type,
        "size_bytes": document.size_bytes,
        "removed": document.removed_at is not None,
    }


# --- Signing up ---------------------------------------------------------------------------------


def merchant_signup(*, business_name: str, email: str, password: str, currency: str = "USD") -> Membership:
    """A new user owning a new, pending merchant with an empty (draft) application. Test mode works
    at once; live keys wait for an operator's approval."""
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email.strip()).lower()
    if not email:
        raise InvalidRequestError("Enter your email address.", param="email")
    if user_model.objects.filter(email__iexact=email).exists():
        raise StateError("An account with this email exists: sign in instead.", code="email_taken", param="email")
    try:
        validate_password(password, user=user_model(email=email))
    except ValidationError as error:
        raise InvalidRequestError(" ".join(error.messages), code="password_invalid", param="password") from error
    with transaction.atomic():
        user = user_model.objects.create_user(email, password)
        merchant = services.merchant_create(name=business_name, currencies=[normalize_currency(currency)])
        membership = services.membership_create(merchant=merchant, user=user, role=Membership.Role.OWNER)
        profile = BusinessProfile.objects.create(merchant=merchant, legal_name=merchant.name, volume_currency=currency)
        change_record(action="business_profile.updated", instance=profile, data=business_profile_data(profile))
    return membership


def business_profile_for(*, merchant: Merchant) -> BusinessProfile:
    """The merchant's application for reading: an unsaved empty draft when it has none yet
    (merchants created by operators), so that reading never writes."""
    return BusinessProfile.objects.filter(merchant=merchant).first() or BusinessProfile(
        merchant=merchant, legal_name=merchant.name, volume_currency=merchant.default_currency
    )


def business_profile_ensure(*, merchant: Merchant) -> BusinessProfile:
    """The merchant's application for changing, made (empty, a draft) on first need."""
    profile, _ = BusinessProfile.objects.get_or_create(
        merchant=merchant, defaults={"legal_name": merchant.name, "volume_currency": merchant.default_currency}
    )
    return profile


# --- Filling in ---------------------------------------------------------------------------------


def _editable(profile: BusinessProfile) -> BusinessProfile:
    locked = BusinessProfile.objects.select_for_update().select_related("merchant").get(pk=profile.pk)
    if locked.status not in EDITABLE_STATUSES:
        raise StateError(
            f"The application is {locked.get_status_display().lower()}: it cannot be changed now.",
            code="application_locked",
        )
    return locked


def business_profile_update(*, profile: BusinessProfile, **changes: Any) -> BusinessProfile:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise InvalidRequestError(f"{field} cannot be changed here.", param=field)
    if "volume_currency" in changes:
        changes["volume_currency"] = normalize_currency(changes["volume_currency"], param="volume_currency")
    if int(changes.get("expected_monthly_volume_amount", 0)) < 0:
        raise InvalidRequestError("The expected volume cannot be negative.", param="expected_monthly_volume_amount")
    with transaction.atomic():
        profile = _editable(profile)
        before = business_profile_data(profile)
        for field, value in changes.items():
            setattr(profile, field, value)
        profile.save()
        after = business_profile_data(profile)
        if after != before:
            change_record(action="business_profile.updated", instance=profile, before=before, data=after)
    return profile


def aba_routing_number_valid(routing_number: str) -> bool:
    """A US ABA routing number: nine digits whose weighted sum (3, 7, 1, repeated) is a multiple of 10."""
    if len(routing_number) != 9 or not routing_number.isdigit():
        return False
    digits = [int(digit) for digit in routing_number]
    return sum(weight * digit for weight, digit in zip((3, 7, 1) * 3, digits, strict=True)) % 10 == 0


def _compact(value: str) -> str:
    return "".join(value.split()).replace("-", "").upper()


def _us_account(*, routing_number: str, account_number: str) -> tuple[str, str]:
    routing = _compact(routing_number)
    if not routing:
        raise InvalidRequestError("Enter the routing number.", param="routing_number")
    if not (routing.isdigit() and len(routing) == 9):
        raise InvalidRequestError(
            "A US routing number has 9 digits.", code="routing_number_invalid", param="routing_number"
        )
    if not aba_routing_number_valid(routing):
        raise InvalidRequestError(
            "This routing number's check digit is wrong: check it against a cheque or your bank's website.",
            code="routing_number_invalid",
            param="routing_number",
        )
    digits = _compact(account_number)
    if not (digits.isdigit() and 4 <= len(digits) <= 17):
        raise InvalidRequestError(
            "A US account number has 4 to 17 digits.", code="account_number_invalid", param="account_number"
        )
    return routing, digits


def _iban_account(*, iban: str, bic: str) -> tuple[str, str]:
    """The BIC and the IBAN, compact, both checked by schwifty (the IBAN's check digits, length and
    national structure for its country; the BIC's structure and country)."""
    if not iban.strip():
        raise InvalidRequestError("Enter the IBAN.", param="iban")
    try:
        checked_iban = IBAN(iban)
    except SchwiftyException as error:
        raise InvalidRequestError(
            f"This IBAN is not valid ({str(error).rstrip('.').lower()}): check it against a bank statement.",
            code="iban_invalid",
            param="iban",
        ) from error
    if not bic.strip():
        raise InvalidRequestError("Enter the BIC (SWIFT code) of the bank.", param="bic")
    try:
        checked_bic = BIC(bic)
    except SchwiftyException as error:
        raise InvalidRequestError(
            f"This BIC is not valid ({str(error).rstrip('.').lower()}): it has 8 or 11 letters and digits.",
            code="bic_invalid",
            param="bic",
        ) from error
    return str(checked_bic.compact), str(checked_iban.compact)


def bank_account_add(
    *,
    merchant: Merchant,
    holder_name: str,
    routing_number: str = "",
    account_number: str = "",
    iban: str = "",
    bic: str = "",
    bank_name: str = "",
    currency: str = "USD",
) -> BankAccount:
    """Add the payout account for a currency; it replaces the previous default for that currency.

    A US account is a routing number (its ABA check digit verified) and an account number; any
    other is an IBAN and the bank's BIC (checked with schwifty), kept as account number and routing
    code. Every refusal names the field at fault."""
    if not holder_name.strip():
        raise InvalidRequestError("Name the account holder.", param="holder_name")
    currency = normalize_currency(currency)
    if iban.strip() or bic.strip():
        routing, number = _iban_account(iban=iban, bic=bic)
    else:
        routing, number = _us_account(routing_number=routing_number, account_number=account_number)
    with transaction.atomic():
        Merchant.objects.select_for_update().get(pk=merchant.pk)
        BankAccount.objects.filter(merchant=merchant, currency=currency, is_default=True).update(is_default=False)
        account = BankAccount.objects.create(
            merchant=merchant,
            holder_name=holder_name.strip(),
            bank_name=bank_name.strip(),
            routing_number=routing,
            account_number=number,
            account_number_last4=number[-4:],
            currency=currency,
        )
        change_record(action="bank_account.added", instance=account, data=bank_account_data(account))
    return account


def _removable_while_editable(merchant: Merchant) -> None:
    """Payout accounts and documents change with the application: not while operators review it."""
    profile = BusinessProfile.objects.filter(merchant=merchant).first()
    if profile is not None and profile.status == BusinessProfile.Status.SUBMITTED:
        raise StateError(
            "The application is being reviewed: wait for the decision before removing anything.",
            code="application_locked",
        )


def bank_account_remove(*, account: BankAccount) -> BankAccount:
    """Stop paying out to this account. The row is kept (payouts made to it name it), marked removed."""
    with transaction.atomic():
        account = BankAccount.objects.select_for_update().select_related("merchant").get(pk=account.pk)
        if account.removed_at is not None:
            return account
        _removable_while_editable(account.merchant)
        before = bank_account_data(account)
        account.removed_at = clock.now()
        account.is_default = False
        account.save(update_fields=["removed_at", "is_default", "updated_at"])
        change_record(
            action="bank_account.removed",
            instance=account,
            merchant=account.merchant,
            before=before,
            data=bank_account_data(account),
        )
    return account


def document_remove(*, document: MerchantDocument) -> MerchantDocument:
    """Take a document out of the application. The file is kept for the record (operators may have
    seen it), no longer listed to the merchant nor counted towards the application."""
    with transaction.atomic():
        document = MerchantDocument.objects.select_for_update().select_related("merchant").get(pk=document.pk)
        if document.removed_at is not None:
            return document
        _removable_while_editable(document.merchant)
        before = document_data(document)
        document.removed_at = clock.now()
        document.save(update_fields=["removed_at", "updated_at"])
        change_record(
            action="merchant_document.removed",
            instance=document,
            merchant=document.merchant,
            before=before,
            data=document_data(document),
        )
    return document


def document_upload(*, merchant: Merchant, kind: str, uploaded: UploadedFile, uploaded_by: Any) -> MerchantDocument:
    """Keep the file through the ``merchant_files`` storage; PDF, PNG or JPEG by its content (not the
    name or type the browser sent), at most 10 MB. Stored and served as the type its content is."""
    if kind not in MerchantDocument.Kind.values:
        raise InvalidRequestError(f"Unknown document kind {kind!r}.", param="kind")
    if uploaded.size is None or uploaded.size == 0:
        raise InvalidRequestError("The file is empty.", param="file")
    if uploaded.size > DOCUMENT_MAX_BYTES:
        raise InvalidRequestError("Files are at most 10 MB.", param="file")
    content_type = sniffed_content_type(uploaded, accepted=DOCUMENT_CONTENT_TYPES)
    if content_type is None:
        raise InvalidRequestError(
            "Upload a PDF, PNG or JPEG file: this file's content is none of them, whatever its name says.",
            code="file_type_invalid",
            param="file",
        )
    with transaction.atomic():
        document = MerchantDocument(
            merchant=merchant,
            kind=kind,
            original_name=(uploaded.name or "document")[:255],
            content_type=content_type,
            size_bytes=uploaded.size,
            uploaded_by=uploaded_by,
        )
        document.file.save(f"{merchant.public_id}-{kind}", uploaded, save=False)
        document.save()
        change_record(
            action="merchant_document.uploaded", instance=document, merchant=merchant, data=document_data(document)
        )
    return document


# --- Submitting and deciding --------------------------------------------------------------------


def application_missing(*, profile: BusinessProfile) -> list[str]:
    """What still stops the application from being submitted, in words (empty: ready)."""
    missing = [field.replace("_", " ") for field in REQUIRED_PROFILE_FIELDS if not getattr(profile, field)]
    if not BankAccount.objects.filter(merchant=profile.merchant, removed_at__isnull=True).exists():
        missing.append("a bank account for payouts")
    if not MerchantDocument.objects.filter(merchant=profile.merchant, removed_at__isnull=True).exists():
        missing.append("at least one document")
    return [str(item) for item in missing]


def application_submit(*, profile: BusinessProfile) -> BusinessProfile:
    with transaction.atomic():
        profile = _editable(profile)
        missing = application_missing(profile=profile)
        if missing:
            raise InvalidRequestError(f"Still missing: {', '.join(missing)}.", code="application_incomplete")
        before = business_profile_data(profile)
        profile.status = BusinessProfile.Status.SUBMITTED
        profile.submitted_at = clock.now()
        profile.save()
        change_record(
            action="business_profile.submitted", instance=profile, before=before, data=business_profile_data(profile)
        )
    return profile


def _decide(*, profile: BusinessProfile, to: str, note: str, action: str, note_required: bool) -> BusinessProfile:
    if note_required and not note.strip():
        raise InvalidRequestError("Say why, for the merchant.", param="note")
    with transaction.atomic():
        profile = BusinessProfile.objects.select_for_update().select_related("merchant").get(pk=profile.pk)
        if profile.status != BusinessProfile.Status.SUBMITTED:
            raise StateError(
                f"Only a submitted application can be decided; this one is {profile.get_status_display().lower()}.",
                code="application_not_submitted",
            )
        before = business_profile_data(profile)
        profile.status = to
        profile.operator_note = note.strip()
        profile.decided_at = clock.now()
        profile.save()
        if to == BusinessProfile.Status.APPROVED and profile.merchant.status == Merchant.Status.PENDING:
            services.merchant_approve(merchant=profile.merchant)
        change_record(action=action, instance=profile, before=before, data=business_profile_data(profile))
    return profile


def application_approve(*, profile: BusinessProfile, note: str = "") -> BusinessProfile:
    """Approve the application and activate the merchant: live keys open."""
    return _decide(
        profile=profile,
        to=BusinessProfile.Status.APPROVED,
        note=note,
        action="business_profile.approved",
        note_required=False,
    )


def application_request_information(*, profile: BusinessProfile, note: str) -> BusinessProfile:
    """Send the application back to the merchant with a note saying what is needed."""
    return _decide(
        profile=profile,
        to=BusinessProfile.Status.INFORMATION_REQUESTED,
        note=note,
        action="business_profile.information_requested",
        note_required=True,
    )


def application_reject(*, profile: BusinessProfile, note: str) -> BusinessProfile:
    """Refuse the application: the merchant stays in test mode."""
    return _decide(
        profile=profile,
        to=BusinessProfile.Status.REJECTED,
        note=note,
        action="business_profile.rejected",
        note_required=True,
    )
