"""Consumers under their pseudonym: whether their details exist and are verified, never the details."""

from __future__ import annotations

import pyarrow as pa

from bnpl.lake.tables.base import AUDIT_TIMES, SNAPSHOT, TableSpec, column, consumer_key, is_present, string, timestamp

CONSUMERS = TableSpec(
    name="consumers",
    kind=SNAPSHOT,
    stream="snapshots",
    description=(
        "Consumers under their pseudonym. No name, email, phone, address, date of birth or national id: "
        "only whether they exist and are verified, and the country of residence."
    ),
    model="consumers.Consumer",
    columns=(
        consumer_key("HMAC pseudonym of the consumer (psn_…): stable across exports", source="public_id"),
        string("status", "active or blocked"),
        column("has_email", pa.bool_(), "an email address is on file", source="email", convert=is_present),
        column("has_phone", pa.bool_(), "a phone number is on file", source="phone", convert=is_present),
        column(
            "email_verified",
            pa.bool_(),
            "the email address was confirmed by a one-time code",
            source="email_verified_at",
            convert=is_present,
        ),
        column(
            "phone_verified",
            pa.bool_(),
            "the phone number was confirmed by a one-time code",
            source="phone_verified_at",
            convert=is_present,
        ),
        column(
            "identity_verified",
            pa.bool_(),
            "the identity basics (KYC) were completed",
            source="identity__verified_at",
            convert=is_present,
        ),
        string("country", "country of residence, ISO 3166-1 alpha-2 (from KYC)", source="identity__country"),
        timestamp("last_sign_in_at", "last sign-in"),
        *AUDIT_TIMES,
    ),
)
