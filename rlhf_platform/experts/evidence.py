"""Checking an uploaded evidence file: size and real type.

The type is read from the file's first bytes, not from its name or the browser's claim, so a
renamed executable is not accepted as a PDF.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from rlhf_platform.core.exceptions import ApplicationError

# content type -> magic bytes at offset 0
ALLOWED_EVIDENCE_TYPES: dict[str, bytes] = {
    "application/pdf": b"%PDF-",
    "image/png": b"\x89PNG\r\n\x1a\n",
    "image/jpeg": b"\xff\xd8\xff",
}


@dataclass(frozen=True)
class EvidenceInfo:
    content_type: str
    size: int
    sha256: str
    name: str


def evidence_inspect(upload: UploadedFile) -> EvidenceInfo:
    max_bytes = settings.EVIDENCE_MAX_BYTES
    if upload.size is None or upload.size == 0:
        raise ApplicationError("The evidence file is empty.", code="empty", field="evidence")
    if upload.size > max_bytes:
        raise ApplicationError(
            f"The evidence file is {upload.size:,} bytes; the limit is {max_bytes:,} bytes.",
            code="file_too_large",
            field="evidence",
        )
    upload.seek(0)
    head = upload.read(16)
    content_type = next(
        (ctype for ctype, magic in ALLOWED_EVIDENCE_TYPES.items() if head.startswith(magic)), None
    )
    if content_type is None:
        raise ApplicationError(
            "The evidence file must be a PDF, PNG or JPEG (its content is none of these).",
            code="unsupported_file_type",
            field="evidence",
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return EvidenceInfo(
        content_type=content_type,
        size=upload.size,
        sha256=digest.hexdigest(),
        name=(upload.name or "evidence")[-255:],
    )
