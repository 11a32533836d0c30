"""What the schemathesis runs share (tests/security/test_schema_fuzz.py over the partner API,
test_consumer_schema_fuzz.py over the consumer app API, test_partner_schema_fuzz.py over the
data-partner API): how a schema is fuzzed, and how a JSON-lines body is sent."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


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
