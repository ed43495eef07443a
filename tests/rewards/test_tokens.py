"""Token amounts for people (rewards.tokens): shown at four decimals, typed in tokens and
converted exactly, base units kept for the API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from rewards.tokens import TokensField, format_tokens, format_tokens_exact, tokens_parse

TOKEN = 10**18


@pytest.mark.parametrize(
    ("units", "shown"),
    [
        (0, "0.00"),
        (15 * TOKEN // 10, "1.50"),
        (1234 * TOKEN, "1,234.00"),
        (12_345_678_901_234_567, "0.0123"),
        (TOKEN // 3, "0.3333"),
        (1, "< 0.0001"),
        (-15 * TOKEN // 10, "-1.50"),
        ("5000000000000000000", "5.00"),  # reward data keeps amounts as digit strings
        (Decimal(2 * TOKEN), "2.00"),
        (10**77, f"{10**59:,}.00"),  # a uint256-sized amount keeps every digit
    ],
)
def test_amounts_show_in_tokens_at_four_decimals(units, shown):
    assert format_tokens(units) == shown


def test_the_exact_form_keeps_every_digit():
    assert format_tokens_exact(TOKEN + 1) == "1.000000000000000001"
    assert format_tokens_exact(TOKEN) == "1"
    assert format_tokens_exact(-(TOKEN // 2)) == "-0.5"


def test_floats_are_refused():
    with pytest.raises(TypeError):
        format_tokens(1.5)


@pytest.mark.parametrize(
    ("typed", "units"),
    [
        ("1000", 1000 * TOKEN),
        ("12.5", 125 * TOKEN // 10),
        (".25", TOKEN // 4),
        (" 2 ", 2 * TOKEN),
        ("0.000000000000000001", 1),
        ("1234567890123456789012345678.123456789012345678", 1234567890123456789012345678123456789012345678),
    ],
)
def test_typed_tokens_convert_exactly(typed, units):
    assert tokens_parse(typed) == units


@pytest.mark.parametrize("typed", ["1.0000000000000000001", "1,000", "1e3", "-1", "", "abc", "1.2.3", "NaN"])
def test_anything_but_a_plain_amount_with_at_most_18_decimals_is_refused(typed):
    with pytest.raises(ValueError):
        tokens_parse(typed)


def test_the_form_field_gives_base_units_and_a_minimum():
    field = TokensField(min_units=TOKEN)
    assert field.clean("3.5") == 35 * TOKEN // 10
    with pytest.raises(Exception, match="at least 1 tokens"):
        field.clean("0.5")


def test_the_template_filters():
    rendered = Template("{% load tokens %}{{ a|tokens }} / {{ a|tokens_exact }} / [{{ b|tokens }}]").render(
        Context({"a": "1500000000000000001", "b": None})
    )
    assert rendered == "1.50 / 1.500000000000000001 / []"
