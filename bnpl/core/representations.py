"""Public shapes rendered without DRF's per-instance field copies.

A DRF serializer deep-copies its declared fields the first time an instance reads them, and every
``Serializer(instance).data`` is a new instance: rendering one order (with its captures and
refunds) copied and bound about seventy field objects, on every request, for every audit row's
before and after. What each field reads and how it shows it depend only on the class, so a
``Representation`` reads its fields once per class, from one instance kept for that, and renders
each instance with them: the same dict, key for key and value for value, as
``serializers.Serializer.to_representation``.

It holds for serializers whose fields do not depend on the instance rendering them (its context,
its arguments): plain, dotted, nested and method fields, as the public shapes declare them. A
method field calls the method of the serializer rendering the instance (so what it kept in
``to_representation`` is there); a nested representation renders through its own class's fields.
``fields`` is still the serializer's own (the OpenAPI schema and input validation read it).

Times are shown as the API documents them, ISO 8601 in UTC (docs/api.md). DRF's ``DateTimeField``
shows a time in the *current* time zone, looked up through a context-local for every value (a page of
ten orders has about ninety); with ``TIME_ZONE = "UTC"``, and nothing in the project activating
another, that is UTC, and a plain ``DateTimeField`` here is shown in UTC without the lookup: the same
text (``tests/bnpl/core/test_representations.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

Instance = TypeVar("Instance")

# (field name, the field as bound to the class's own instance, the method of a method field or "")
_Reader = tuple[str, "serializers.Field[Any, Any, Any, Any] | _UtcTime", str]


class Representation(serializers.Serializer[Instance]):
    """A serializer for output whose fields are read once per class (see the module)."""

    _readers: ClassVar[dict[type[Any], list[_Reader]]] = {}

    def to_representation(self, instance: Instance) -> dict[str, Any]:
        return self.render(instance)

    def render(self, instance: Instance, *, reused: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``to_representation``, with the fields named in ``reused`` given their value from there
        instead of read again (a rendering that knows part of the answer: an order after a capture
        keeps the rows it had, rendered already, and adds one), in their place among the fields."""
        readers = Representation._readers.get(type(self)) or _readers_of(type(self))
        data: dict[str, Any] = {}
        for name, field, method in readers:
            if reused is not None and name in reused:
                data[name] = reused[name]
                continue
            if method:
                data[name] = getattr(self, method)(instance)
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            data[name] = None if check_for_none is None else field.to_representation(attribute)
        return data


def _readers_of(representation: type[Representation[Any]]) -> list[_Reader]:
    readers: list[_Reader] = []
    for field in representation()._readable_fields:
        assert field.field_name is not None
        method = field.method_name if isinstance(field, serializers.SerializerMethodField) else ""
        shown: serializers.Field[Any, Any, Any, Any] | _UtcTime = field
        if isinstance(field, serializers.DateTimeField) and _shown_in_utc(field):
            shown = _UtcTime(field)
        readers.append((field.field_name, shown, method))
    return Representation._readers.setdefault(representation, readers)


def _shown_in_utc(field: serializers.Field[Any, Any, Any, Any]) -> bool:
    """A plain ``DateTimeField`` (no format or time zone of its own) that DRF would show as ISO 8601
    in UTC: the project's time zone is UTC (see the module)."""
    return (
        type(field) is serializers.DateTimeField
        and not hasattr(field, "format")
        and not hasattr(field, "timezone")
        and str(api_settings.DATETIME_FORMAT).lower() == ISO_8601
        and settings.USE_TZ
        and settings.TIME_ZONE == "UTC"
    )


class _UtcTime:
    """A plain ``DateTimeField``'s reading and showing, the showing in UTC without looking up the
    current time zone: DRF's text for an aware time; anything else is the field's to show."""

    def __init__(self, field: serializers.DateTimeField) -> None:
        self.get_attribute = field.get_attribute
        self._field = field

    def to_representation(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.utcoffset() is not None:
            try:
                text = value.astimezone(dt.UTC).isoformat()
            except OverflowError:  # a time UTC cannot hold: the field says so as it does
                return self._field.to_representation(value)
            return text[:-6] + "Z"  # an aware time in UTC: isoformat ends "+00:00"
        return self._field.to_representation(value)
