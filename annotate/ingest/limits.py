"""Every limit on a batch upload, in one place: the validators use these constants, the API
schema and docs/api.md state them (``limits_text``), and the upload checks them while the body
streams in, so that a body breaking one is refused in the request with its line and field.

Characters are Unicode code points (what Python's ``len`` counts); bytes are of the body as sent.
"""

from __future__ import annotations

from django.conf import settings

MAX_TEXT_CHARS = 200_000  # a prompt string, one message's content, one response's text
MAX_PROMPT_MESSAGES = 500  # a prompt given as a list of chat messages
MAX_ROLE_CHARS = 32
MIN_RESPONSES = 2  # a pairwise project takes exactly 2; a ranking project 3 to 8
MAX_RESPONSES = 8
MAX_RESPONSE_ID_CHARS = 64
MAX_MODEL_CHARS = 200
MAX_EXTERNAL_ID_CHARS = 200
MAX_METADATA_BYTES = 65_536  # the item's metadata object, as compact JSON (UTF-8)
MAX_ITEM_BYTES = 16 << 20  # one line of JSON Lines, or one element of a JSON array
MAX_REPORTED_ERRORS = 1_000  # line errors kept on a failed batch (the count covers them all)


def batch_max_bytes() -> int:
    """The largest body (BATCH_MAX_BYTES, 1 GiB by default); larger is refused with 413."""
    return settings.BATCH_MAX_BYTES


def limits_text() -> str:
    """The limits in a sentence list, for the API schema."""
    return (
        f"Limits (checked while the body is received; a body that breaks one is answered 400 "
        f"with each bad line's `line`, `field`, `code` and `message`, and nothing is written): "
        f"body at most {batch_max_bytes():,} bytes (413 above); one item (a line of JSON Lines "
        f"or an element of the array) at most {MAX_ITEM_BYTES:,} bytes; `external_id` 1 to "
        f"{MAX_EXTERNAL_ID_CHARS} characters; `prompt` a string of 1 to {MAX_TEXT_CHARS:,} "
        f"characters or 1 to {MAX_PROMPT_MESSAGES} messages `{{role, content}}` (`role` one of "
        f"system, developer, user, assistant, tool; `content` at most {MAX_TEXT_CHARS:,} "
        f"characters); `responses` {MIN_RESPONSES} to {MAX_RESPONSES} (exactly 2 for a pairwise "
        f"project, 3 to 8 for a ranking one), each `{{id, text, model}}` with `id` 1 to "
        f"{MAX_RESPONSE_ID_CHARS} characters and unique in the item, `text` at most "
        f"{MAX_TEXT_CHARS:,} characters, `model` at most {MAX_MODEL_CHARS}; `metadata` an object "
        f"of at most {MAX_METADATA_BYTES:,} bytes as compact JSON; no NUL character or lone "
        f"surrogate in any text. The first {MAX_REPORTED_ERRORS:,} line errors are reported."
    )
