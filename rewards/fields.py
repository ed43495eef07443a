"""Token amounts: integers of up to 78 digits (a uint256), exact in every database.

PostgreSQL stores them as ``numeric(78,0)``. SQLite (the development default) has no exact
type that large: its NUMERIC affinity turns an integer beyond 64 bits into a float, and Django's
DecimalField converter rounds to 15 digits. So on SQLite the amount is stored as its decimal
text, and sums are done in Python (``rewards.ledger.sum_amounts``). Values are Python ints.

Text keeps the check constraints meaningful on SQLite too: ``'-5' >= '0'`` is false and
``'12' >= '0'`` true, because the canonical text of a negative number starts with ``-``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class TokenAmountField(models.Field):
    description = "An integer amount of token base units (up to 78 digits)"

    def db_type(self, connection) -> str:
        return "text" if connection.vendor == "sqlite" else "numeric(78,0)"

    def to_python(self, value):
        if value is None or isinstance(value, int):
            return value
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueError(f"A token amount is a whole number of base units, not {value}.")
            return int(value)
        if isinstance(value, float):
            raise TypeError("Token amounts are never floats.")
        return int(str(value))

    def from_db_value(self, value, expression, connection):
        return None if value is None else int(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else self.to_python(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return str(value) if connection.vendor == "sqlite" else Decimal(value)

    def formfield(self, **kwargs):
        from django import forms

        return super().formfield(**{"form_class": forms.IntegerField, **kwargs})
