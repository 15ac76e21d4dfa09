"""Aware UTC times in and out of the tracking tables (bot/tracking/store/tables.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bot.tracking.store.database import Store
from bot.tracking.store.tables import UtcDateTime
from tests.fixtures.tracking import T0
from tests.tracking import fast_store

# SQLite stores copied from one migrated database (see tests/tracking/fast_store.py).
migrated_sqlite, store = fast_store.migrated_sqlite, fast_store.store

BERLIN_SUMMER = timezone(timedelta(hours=2))


def test_bind_stores_naive_utc_and_refuses_naive_times() -> None:
    column = UtcDateTime()
    dialect = sa.create_engine("sqlite://").dialect
    local = datetime(2025, 3, 1, 11, 0, tzinfo=BERLIN_SUMMER)
    assert column.process_bind_param(local, dialect) == datetime(2025, 3, 1, 9, 0)
    assert column.process_bind_param(None, dialect) is None
    with pytest.raises(ValueError, match=r"^naive datetime given to a UTC column$"):
        column.process_bind_param(datetime(2025, 3, 1, 9, 0), dialect)


def test_results_come_back_aware_utc() -> None:
    column = UtcDateTime()
    dialect = sa.create_engine("sqlite://").dialect
    got = column.process_result_value(datetime(2025, 3, 1, 9, 0), dialect)
    assert got == T0 and got is not None and got.tzinfo is UTC
    assert column.process_result_value(None, dialect) is None


def test_a_times_offset_survives_a_round_trip(store: Store) -> None:
    local = T0.astimezone(BERLIN_SUMMER)
    store.add_tracked("C1", [("j", None, local)], message_ts="1.1", requested_by="U1",
                      now=local)
    [row] = store.channel_tracked("C1")
    assert row.created_at == T0 and row.created_at.utcoffset() == timedelta(0)
    assert row.job_created_at == T0


def test_a_server_in_another_time_zone_still_stores_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        local = datetime(2025, 3, 1, 11, 0, tzinfo=BERLIN_SUMMER)
        dialect = sa.create_engine("sqlite://").dialect
        assert UtcDateTime().process_bind_param(local, dialect) == datetime(2025, 3, 1, 9, 0)
    finally:
        monkeypatch.undo()
        time.tzset()
