"""What the schemathesis runs share (tests/security/test_schema_fuzz.py over the partner API,
test_consumer_schema_fuzz.py over the consumer app API, test_partner_schema_fuzz.py over the
data-partner API): how a schema is fuzzed, and how a JSON-lines body is sent."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bnpl.core.idempotency import KEY_PATTERN


@schemathesis.serializer("application/x-ndjson")
def _json_lines(context: Any, value: Any) -> bytes:
    """The schema of a JSON-lines body is the schema of one line: send the generated value as a line."""
    return json.dumps(value).encode() + b"\n"


def fuzzed(schema: dict[str, Any], *, examples_per_operation: int) -> Any:
    """``schema`` for schemathesis: its documented examples, the coverage cases (boundaries, missing
    and wrong-typed values, undeclared methods) and ``examples_per_operation`` generated cases, positive
    and negative, deterministic and without shrinking; no stateful phase."""
    return schemathesis.openapi.from_dict(
        schema,
        config=schemathesis.Config.from_dict(
            {
                "generation": {
                    "mode": "all",
                    "max-examples": examples_per_operation,
                    "no-shrink": True,
                    "deterministic": True,
                },
                "phases": {
                    "examples": {"enabled": True},
                    "coverage": {"enabled": True},
                    "fuzzing": {"enabled": True},
                    "stateful": {"enabled": False},
                },
            }
        ),
    )


def positive_at(case: Any, location: Any) -> bool:
    """Whether ``case`` keeps to the schema at ``location`` (a positive case there)."""
    return case.meta is None or not case.meta.is_negative_at(location)


def send(case: Any, *, base_url: str, headers: dict[str, str]) -> None:
    """Send ``case`` and check the answer against the schema. A POST gets a fresh Idempotency-Key
    (a generated well-formed one would replay another case's answer; a positive case without one
    gets one), unless the case is testing a malformed key. A POST whose body keeps to the schema
    may still break a business rule, so its refusal is not counted against it."""
    key = (case.headers or {}).get("Idempotency-Key")
    if case.method == "POST" and key is not None and re.fullmatch(KEY_PATTERN, str(key)):
        case.headers = {**case.headers, "Idempotency-Key": str(uuid.uuid4())}
    elif case.method == "POST" and key is None and positive_at(case, ParameterLocation.HEADER):
        case.headers = {**(case.headers or {}), "Idempotency-Key": str(uuid.uuid4())}
    excluded = [] if case.method == "GET" else [positive_data_acceptance]
    case.call_and_validate(base_url=base_url, headers=headers, excluded_checks=excluded)
