"""PostgreSQL upkeep for the queue's tables: the migration gives them their own autovacuum
thresholds, and a system check (run by ``migrate`` and ``check --database``) says when the
server runs with autovacuum off."""

from __future__ import annotations

import pytest
from django.db import connection

from rlhf_platform.core import checks


def _autovacuum(monkeypatch, value):
    monkeypatch.setattr(checks, "postgresql_setting", lambda connection, name: value)
    return checks.autovacuum_check(None, databases=["default"])


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_check_warns_when_autovacuum_is_off_and_only_then(monkeypatch):
    (warning,) = _autovacuum(monkeypatch, "off")
    assert warning.id == "rlhf_platform.W002" and "autovacuum off (database 'default')" in warning.msg
    assert "ALTER SYSTEM SET autovacuum = on" in warning.hint
    assert _autovacuum(monkeypatch, "on") == []
    assert _autovacuum(monkeypatch, None) == []  # unreadable: nothing said
    assert checks.autovacuum_check(None) == []  # not asked about databases (plain `check`)


@pytest.mark.django_db
def test_the_check_reads_the_server_as_it_is():
    found = checks.autovacuum_check(None, databases=["default"])
    if connection.vendor != "postgresql":
        assert found == []
        return
    assert bool(found) == (checks.postgresql_setting(connection, "autovacuum") == "off")


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_queues_tables_carry_their_own_autovacuum_thresholds():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s) ORDER BY relname",
            [["annotate_assignment", "annotate_item", "annotate_label", "annotate_slot"]],
        )
        rows = cursor.fetchall()
    assert len(rows) == 4
    for _table, options in rows:
        assert set(options) >= {
            "autovacuum_vacuum_scale_factor=0.02",
            "autovacuum_vacuum_threshold=1000",
            "autovacuum_analyze_scale_factor=0.02",
            "autovacuum_vacuum_insert_scale_factor=0.05",
        }
