"""Input serializers for the partner API. Unknown parameters are refused by name (as Stripe does),
so a typo in a field name is an error, not a silently ignored value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class InputSerializer(serializers.Serializer[Any]):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {unknown[0]: [f"Received unknown parameter: {unknown[0]}."]}, code="unknown"
                )
        return super().to_internal_value(data)
