"""The API's body parsers: DRF's, refusing text the database cannot hold.

Every JSON, form and multipart body is checked once here, after parsing and before any
serializer or service sees it, so a NUL character or a lone surrogate in any field (a
``JSONField`` such as a label's rationale included) is a 400 naming the field
(:mod:`rlhf_platform.core.text`), not a server error from the database.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ErrorDetail, ValidationError

from rlhf_platform.core.text import BadText, bad_text_in, bad_text_in_querydict

__all__ = ["FormParser", "JSONParser", "MultiPartParser"]


def _refuse(found: BadText) -> ValidationError:
    detail = ErrorDetail(found.message, code=found.code)
    return ValidationError({found.field: [detail]} if found.field else [detail])


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        found = bad_text_in(data)
        if found is not None:
            raise _refuse(found)
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        found = bad_text_in_querydict(data)
        if found is not None:
            raise _refuse(found)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        result = super().parse(stream, media_type, parser_context)
        found = bad_text_in_querydict(result.data)
        if found is not None:
            raise _refuse(found)
        return result
