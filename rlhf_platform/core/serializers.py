"""Base classes for the explicit per-endpoint serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class InputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know.

    A typo in a field name (``expires_at`` for ``expires_on``) would otherwise be dropped in
    silence and the client would believe it had set something.
    """

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            known = set(self.fields)
            unknown = sorted(str(key) for key in data.keys() if key not in known)
            # Browsers post the CSRF token with forms; it is not a field of ours.
            unknown = [key for key in unknown if key != "csrfmiddlewaretoken"]
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: [serializers.ErrorDetail("Unknown field.", code="unknown_field")]
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)
