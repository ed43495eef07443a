"""Token amounts for people: shown and typed in tokens, stored and sent in base units.

The ledger, the chain and the API speak base units (ints; one token is ``10**TOKEN_DECIMALS``
of them). Pages show tokens rounded to ``DISPLAY_PLACES`` decimals (``{{ amount|tokens }}``,
``rewards/templatetags/tokens.py``), with the exact figure a hover away
(``{{ amount|tokens_exact }}``), and money forms take tokens (``TokensField``), converted
exactly with ``Decimal``: an amount with more decimals than the token has is refused, never
rounded.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from django import forms

TOKEN_DECIMALS = 18
UNIT = 10**TOKEN_DECIMALS
# A label's reward is usually a few hundredths of a token: four places show it, and a
# balance of thousands still reads at a glance.
DISPLAY_PLACES = 4
MIN_PLACES = 2

# Room for any uint256 with its decimals: Decimal's default 28 digits would round silently.
_EXACT = Context(prec=200, Emax=999, Emin=-999)
_TOKENS_TEXT = re.compile(r"^\d+(\.\d+)?$|^\.\d+$")


def _units(amount: Any) -> int:
    """A base-unit amount as an int (ints, digit strings as in reward data, whole Decimals)."""
    if isinstance(amount, bool):
        raise TypeError("A token amount is not a boolean.")
    if isinstance(amount, float):
        raise TypeError("Token amounts are never floats.")
    if isinstance(amount, Decimal):
        if amount != amount.to_integral_value():
            raise ValueError(f"A base-unit amount is a whole number, not {amount}.")
        return int(amount)
    return int(amount)


def format_tokens(amount: Any, *, places: int = DISPLAY_PLACES) -> str:
    """Base units as tokens for reading: ``1500000000000000000`` -> ``"1.50"``,
    ``1234 * 10**18`` -> ``"1,234.00"``, ``12345678901234567`` -> ``"0.0123"`` (half to even).
    A non-zero amount too small to show reads ``"< 0.0001"``, never ``"0.00"``."""
    units = _units(amount)
    sign = "-" if units < 0 else ""
    with localcontext(_EXACT):
        value = Decimal(abs(units)).scaleb(-TOKEN_DECIMALS)
        shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if units and not shown:
        smallest = f"{Decimal(1).scaleb(-places):f}"
        return f"> -{smallest}" if sign else f"< {smallest}"
    whole, _, frac = f"{shown:f}".partition(".")
    frac = frac.rstrip("0").ljust(MIN_PLACES, "0") if places >= MIN_PLACES else frac
    return f"{sign}{int(whole):,}{'.' + frac if frac else ''}"


def format_tokens_exact(amount: Any) -> str:
    """Every digit: ``1500000000000000001`` -> ``"1.500000000000000001"``, ``10**18`` -> ``"1"``."""
    units = _units(amount)
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNIT)
    frac_text = str(frac).rjust(TOKEN_DECIMALS, "0").rstrip("0")
    return f"{sign}{whole}{'.' + frac_text if frac_text else ''}"


def tokens_parse(text: str) -> int:
    """Tokens as typed (``"1000"``, ``"0.25"``) to base units, exactly. Raises ValueError with
    a sentence for the person: not a plain decimal number, or more decimals than the token has."""
    text = (text or "").strip()
    if not _TOKENS_TEXT.match(text):
        raise ValueError(
            "Enter an amount of tokens as a plain number, with a dot before any decimals "
            "(e.g. 1000 or 12.5), without thousands separators."
        )
    with localcontext(_EXACT):
        try:
            units = Decimal(text).scaleb(TOKEN_DECIMALS)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits decimals only
            raise ValueError("Enter an amount of tokens as a number.") from exc
        if units != units.to_integral_value():
            raise ValueError(f"The token has {TOKEN_DECIMALS} decimals; this amount has more.")
        return int(units)


class TokensField(forms.CharField):
    """A money input in tokens; ``cleaned_data`` holds base units (an int), at least
    ``min_units``."""

    def __init__(self, *, min_units: int = 1, **kwargs: Any) -> None:
        self.min_units = min_units
        attrs = {"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"}
        kwargs.setdefault("widget", forms.TextInput(attrs=attrs))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        if len(text) > 100:
            raise forms.ValidationError("Enter an amount of tokens as a number.", code="invalid")
        try:
            units = tokens_parse(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc
        if units < self.min_units:
            raise forms.ValidationError(
                f"Enter at least {format_tokens_exact(self.min_units)} tokens.", code="min_value"
            )
        return units
