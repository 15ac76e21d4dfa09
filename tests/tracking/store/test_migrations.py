"""Several processes starting at once (gunicorn workers, web and worker dynos) each
migrate one fresh database: all of them succeed and the schema is at head once."""

from __future__ import annotations

import multiprocessing
import queue
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

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
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
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

    monkeypatch.setattr(store_module.time, "sleep", sleep)
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
