"""The bulk reader under Django's debug cursor (DEBUG on, as `make run` and the benchmarks
serve): its COPY takes parameters there too."""

from __future__ import annotations

import pytest
from django.db import connection

from annotate.quality.bulk import copy_arrays


@pytest.mark.django_db
def test_copy_arrays_reads_with_parameters_under_the_debug_cursor():
    if connection.vendor != "postgresql":
        pytest.skip("binary COPY is PostgreSQL's")
    connection.force_debug_cursor = True
    try:
        got = copy_arrays(
            columns=[("n", "g::int8", "int8"), ("x", "(g * 0.5)::float8", "float8")],
            source="generate_series(1, %s) AS g",
            order_by="g",
            params=[3],
        )
    finally:
        connection.force_debug_cursor = False
    assert got["n"].tolist() == [1, 2, 3]
    assert got["x"].tolist() == [0.5, 1.0, 1.5]
