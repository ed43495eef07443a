"""Batch ingestion: receive a body, validate it line by line, write items and their slots.

- ``records``  splits a body (JSON Lines or a JSON array) into records, as a stream.
- ``validate`` checks each record against the item format and the project's schema (msgspec
  decodes and type-checks in one pass; the rest is plain Python).
- ``writer``   writes the validated rows in one transaction: COPY into a temporary table and
  one INSERT ... ON CONFLICT on PostgreSQL, bulk inserts elsewhere.
- ``services`` the service functions: ``batch_receive`` and ``batch_ingest``.
"""
