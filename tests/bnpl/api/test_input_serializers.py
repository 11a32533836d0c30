"""Input serializers copy their declared fields shallowly (DRF rebuilds each one per instance): each
instance still has fields of its own, bound to it, and validating one leaves the others as they were."""

from __future__ import annotations

from rest_framework import serializers

from bnpl.api.serializers import InputSerializer, StrictCharField, StrictIntegerField


class LineInput(InputSerializer):
    amount = StrictIntegerField(min_value=1)


class OrderInput(InputSerializer):
    reference = StrictCharField(max_length=5)
    tags = serializers.ListField(child=StrictCharField(max_length=3), required=False)
    line = LineInput()


def test_each_instance_has_its_own_fields_bound_to_it() -> None:
    first, second = OrderInput(data={}), OrderInput(data={})

    for name in ("reference", "tags", "line"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
        assert first.fields[name] is not OrderInput._declared_fields[name]
    first_line, second_line = first.fields["line"], second.fields["line"]
    assert isinstance(first_line, LineInput) and isinstance(second_line, LineInput)
    assert first_line.fields["amount"] is not second_line.fields["amount"]  # nested: deep copies


def test_validating_one_instance_leaves_another_as_it_was() -> None:
    invalid = OrderInput(data={"reference": "toolong", "tags": ["abcd"], "line": {"amount": "1"}})
    valid = OrderInput(data={"reference": "ok", "tags": ["a"], "line": {"amount": 2}})

    assert invalid.is_valid() is False
    assert valid.is_valid() is True

    assert set(invalid.errors) == {"reference", "tags", "line"}
    assert invalid.errors["line"] == {"amount": ["Must be an integer, not a string."]}
    assert valid.validated_data == {"reference": "ok", "tags": ["a"], "line": {"amount": 2}}
    assert OrderInput(data={"reference": "x", "line": {"amount": 1}, "unknown": 1}).is_valid() is False
