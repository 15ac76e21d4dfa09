"""The store's engine on each database: SQLite enforces foreign keys, waits for a lock and
runs in WAL mode; PostgreSQL keeps the URL's own options (search_path, others) and adds
its connect timeout, keepalives, pool limits and statement timeout."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from bot.tracking.store.database import (
    _PG_CONNECT_ARGS,
    CONNECT_TIMEOUT,
    POOL_TIMEOUT,
    STATEMENT_TIMEOUT_MS,
    Store,
)
from tests.fixtures.tracking import T0


def test_a_sqlite_store_enforces_foreign_keys_and_waits_for_the_lock(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    seen: list[dict[str, Any]] = []
    sa.event.listen(store.engine, "do_connect",
                    lambda _d, _r, _a, kwargs: seen.append(dict(kwargs)))
    store.migrate()
    assert store.url == sqlite_url and store.dialect == "sqlite"
    assert seen and seen[0]["timeout"] == 30
    assert store.engine.pool.timeout() == POOL_TIMEOUT
    with store.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.text("INSERT INTO seen_outcomes (subscription_id, job_id,"
                                 " outcome, seen_at) VALUES (999, 'j', 'FAILED', :t)"),
                         {"t": T0.replace(tzinfo=None)})
    store.close()


@pytest.mark.postgres
def test_a_postgres_store_keeps_the_urls_options_and_adds_its_limits(postgres_url: str) -> None:
    store = Store(postgres_url)
    seen: list[dict[str, Any]] = []
    sa.event.listen(store.engine, "do_connect",
                    lambda _d, _r, _a, kwargs: seen.append(dict(kwargs)))
    store.migrate()
    assert store.dialect == "postgresql"
    kwargs = seen[0]
    for key, value in _PG_CONNECT_ARGS.items():
        assert kwargs[key] == value, key
    assert kwargs["connect_timeout"] == CONNECT_TIMEOUT
    assert store.engine.pool.timeout() == POOL_TIMEOUT
    assert store.engine.pool._pre_ping
    with store.begin() as conn:
        # The keepalives are the client's socket options (checked above); the statement
        # timeout is the server's, sent in the startup packet.
        timeout = conn.execute(sa.text("SHOW statement_timeout")).scalar()
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        tables = set(sa.inspect(conn).get_table_names())
    assert timeout == f"{STATEMENT_TIMEOUT_MS // 1000}s"
    # The URL's own search_path survives: the tables are in the test's schema.
    assert schema is not None and schema.startswith("t_") and "subscriptions" in tables
    store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("extra", [None, "-cwork_mem=5MB"])
def test_a_postgres_url_with_no_or_several_options_gets_the_statement_timeout(
    postgres_url: str, extra: str | None,
) -> None:
    from tests.fixtures.database import POSTGRES_URL

    if extra is None:
        url = POSTGRES_URL  # no options of its own
    else:
        url = sa.engine.make_url(postgres_url).update_query_pairs(
            [("options", extra)], append=True).render_as_string(hide_password=False)
    store = Store(url)
    try:
        with store.begin() as conn:
            settings = {name: conn.execute(sa.text(f"SHOW {name}")).scalar()
                        for name in ("statement_timeout", "work_mem", "search_path")}
    finally:
        store.close()
    assert settings["statement_timeout"] == f"{STATEMENT_TIMEOUT_MS // 1000}s"
    if extra is not None:  # both of the URL's own options kept
        assert settings["work_mem"] == "5MB"
        assert str(settings["search_path"]).startswith("t_")
