"""Input serializers for the partner API.

Two rules, enforced here for every input serializer:

* Unknown parameters are refused by name (as Stripe does), so a typo in a field name is an error, not
  a silently ignored value.
* A value of the wrong JSON type is refused, never converted: DRF's own fields turn ``"100"`` into
  ``100`` and ``0`` into ``"0"``, so a client sending an amount as a string (or a float computed from
  one) would be served something it did not say. Input serializers declare only the strict fields
  below; declaring a lax one is a ``TypeError`` at import, so no endpoint can forget.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import serializers

_JSON_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return _JSON_NAMES.get(type(value), "another type")


class StrictJsonTypeMixin:
    """Accept only values of ``json_type`` as parsed from JSON (``True`` is not an integer here)."""

    json_type: ClassVar[type] = str

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) != (self.json_type is bool) or not isinstance(data, self.json_type):
            raise serializers.ValidationError(
                f"Must be {_JSON_NAMES[self.json_type]}, not {_json_name(data)}.", code="invalid"
            )
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictCharField(StrictJsonTypeMixin, serializers.CharField):
    pass


class StrictEmailField(StrictJsonTypeMixin, serializers.EmailField):
    pass


class StrictURLField(StrictJsonTypeMixin, serializers.URLField):
    pass


class StrictChoiceField(StrictJsonTypeMixin, serializers.ChoiceField):
    """String choices only (every choice set of the API is a set of strings)."""


class StrictDateField(StrictJsonTypeMixin, serializers.DateField):
    pass


class StrictDateTimeField(StrictJsonTypeMixin, serializers.DateTimeField):
    pass


class StrictIntegerField(StrictJsonTypeMixin, serializers.IntegerField):
    """An integer in the JSON: amounts and counts. ``"100"``, ``100.0`` and ``true`` are refused."""

    json_type = int


class StrictBooleanField(StrictJsonTypeMixin, serializers.BooleanField):
    json_type = bool


def _lax_fields(fields: Mapping[str, Any]) -> list[str]:
    """Names of declared fields that would convert a value of another JSON type."""
    lax = []
    for name, declared in fields.items():
        field = declared.child if isinstance(declared, serializers.ListSerializer) else declared
        if isinstance(field, (serializers.ListField, serializers.DictField)):
            lax += _lax_fields({f"{name}[]": field.child})
        elif isinstance(field, serializers.Serializer):
            if not isinstance(field, InputSerializer):
                lax.append(f"{name} (nest an InputSerializer)")
        elif not isinstance(field, StrictJsonTypeMixin):
            lax.append(name)
    return lax


class InputSerializer(serializers.Serializer[Any]):
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        lax = _lax_fields(cls._declared_fields)  # type: ignore[attr-defined]
        if lax:
            raise TypeError(
                f"{cls.__name__}: declare {', '.join(lax)} with a strict field of bnpl.api.serializers "
                "(a value of another JSON type must be refused, not converted)."
            )

    def get_fields(self) -> dict[str, Any]:
        """The declared fields, each a shallow copy (bound to this instance by DRF, as a deep copy
        would be). DRF deep-copies them for every instance, which rebuilds each field through its
        ``__init__`` (its validators, its messages): about half of validating a small input. A
        strict field keeps nothing per request (its validators and messages are read, never
        changed, and a list's child holds no value), so copies can share them; a nested serializer
        is still deep-copied, as DRF does."""
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
            for name, field in self._declared_fields.items()  # type: ignore[attr-defined]
        }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: [f"Received unknown parameter: {unknown[0]}."]}, code="unknown"
                )
        return super().to_internal_value(data)


class NoInput(InputSerializer):
    """An action that takes no parameters (any sent is refused by name)."""
