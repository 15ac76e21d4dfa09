"""Several processes starting at once (gunicorn workers, web and worker dynos) each
migrate one fresh database: all of them succeed and the schema is at head once. On
SQLite the switch to WAL backs off while another connection holds the lock (doubling up
to half a second, for thirty seconds at most); on PostgreSQL a migration waits for
another one in the same schema."""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from pytest_mock import MockerFixture

from bot.tracking.store.database import MIGRATIONS, Store

PROCESSES = 6


def _migrate(url: str, barrier: Any, errors: Any) -> None:
    """One starting process: opens the store, waits for the others, migrates."""
    store = Store(url)
    try:
        barrier.wait(timeout=60)
        store.migrate()
    except BaseException as e:
        errors.put(repr(e))
        raise
    finally:
        store.close()


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_processes_migrating_one_fresh_database_at_once_all_succeed(database_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier, errors = spawn.Barrier(PROCESSES), spawn.Queue()
    starting = [spawn.Process(target=_migrate, args=(database_url, barrier, errors))
                for _ in range(PROCESSES)]
    for process in starting:
        process.start()
    for process in starting:
        process.join(timeout=60)
    failures = []
    while True:
        try:
            failures.append(errors.get(timeout=0.5))
        except queue.Empty:
            break
    assert failures == [] and [p.exitcode for p in starting] == [0] * PROCESSES

    store = Store(database_url)
    with store.begin() as conn:
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        assert list(versions) == [_head()]
    assert {"tracked_jobs", "subscriptions", "seen_outcomes", "outbox"} <= set(
        sa.inspect(store.engine).get_table_names())
    assert store.channel_tracked("C1") == []  # the tables answer queries
    store.close()


def test_switching_to_wal_waits_for_a_process_holding_the_lock(
    tmp_path: Any, mocker: MockerFixture
) -> None:
    import sqlite3
    import threading

    from bot.tracking.store import database as store_module

    path = tmp_path / "race.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process, mid-transaction
    retried = threading.Event()
    real_sleep = store_module.time.sleep

    def sleep(seconds: float) -> None:
        retried.set()  # the switch met "database is locked" and backs off
        real_sleep(min(seconds, 0.01))

    mocker.patch.object(store_module.time, "sleep", side_effect=sleep)
    starter = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            store_module._ensure_wal(starter)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=start)
    thread.start()
    assert retried.wait(timeout=10)
    holder.execute("COMMIT")
    thread.join(timeout=10)
    assert errors == []
    assert starter.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    starter.close()
    holder.close()


# -- switching SQLite to WAL (a real second connection holds the lock) ----------------


def _locked_database(tmp_path: Any) -> tuple[Any, Any]:
    import sqlite3

    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process, mid-transaction
    starter = sqlite3.connect(path, timeout=0, isolation_level=None)
    return holder, starter


def test_the_wal_switch_backs_off_doubling_up_to_half_a_second(
    tmp_path: Any, mocker: MockerFixture,
) -> None:
    from bot.tracking.store import database as store_module

    holder, starter = _locked_database(tmp_path)
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the test's clock: no real wait
        waits.append(seconds)
        if len(waits) == 9:
            holder.execute("COMMIT")  # the other process lets go

    mocker.patch.object(store_module.time, "sleep", side_effect=sleep)
    store_module._ensure_wal(starter)
    assert waits == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5, 0.5])
    assert starter.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    starter.close()
    holder.close()


def test_the_wal_switch_gives_up_after_thirty_seconds(
    tmp_path: Any, mocker: MockerFixture,
) -> None:
    import sqlite3

    from bot.tracking.store import database as store_module

    holder, starter = _locked_database(tmp_path)
    now = [1000.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    mocker.patch.object(store_module.time, "sleep", side_effect=sleep)
    mocker.patch.object(store_module.time, "monotonic", side_effect=lambda: now[0])
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store_module._ensure_wal(starter)
    # It tried until the deadline had passed, not once more.
    assert sum(waits[:-1]) < store_module.WAL_SWITCH_SECONDS <= sum(waits)
    starter.close()
    holder.close()


def test_the_wal_switch_raises_other_errors_at_once(tmp_path: Any,
                                                    mocker: MockerFixture) -> None:
    import sqlite3

    from bot.tracking.store import database as store_module

    path = tmp_path / "readonly.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    waits: list[float] = []
    mocker.patch.object(store_module.time, "sleep", side_effect=waits.append)
    with pytest.raises(sqlite3.OperationalError):
        store_module._ensure_wal(readonly)
    assert waits == []
    readonly.close()


@pytest.mark.postgres
def test_a_postgres_migration_waits_for_another_one_in_the_same_schema(
    postgres_url: str,
) -> None:
    import threading
    import time

    from bot.tracking.store.database import MIGRATION_LOCK

    holder = Store(postgres_url)
    starter = Store(postgres_url)
    done = threading.Event()
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            starter.migrate()
        except BaseException as e:
            errors.append(e)
        done.set()

    try:
        with holder.begin() as conn:  # another process migrating this schema
            conn.execute(sa.text(
                "SELECT pg_advisory_xact_lock(:app, hashtext(coalesce(current_schema(), '')))"
            ), {"app": MIGRATION_LOCK})
            thread = threading.Thread(target=migrate)
            thread.start()
            waiting = False
            deadline = time.monotonic() + 20
            while not (waiting or done.is_set()) and time.monotonic() < deadline:
                # Polls a condition (another session queued behind the lock), no ordering.
                waiting = bool(conn.execute(sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND NOT granted AND classid = :app"), {"app": MIGRATION_LOCK}).scalar())
            assert waiting and not done.is_set()
        thread.join(timeout=30)
        assert done.is_set() and errors == []
        assert starter.channel_tracked("C1") == []  # migrated once the lock was free
    finally:
        holder.close()
        starter.close()
