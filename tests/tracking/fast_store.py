"""A faster ``store`` fixture for the store-level test files (test_store_queries.py and
the like), which mutation runs (bench/MUTATION.md) execute hundreds of times: on SQLite
each test gets a copy of one database migrated once per module, instead of running every
migration again (the migrations themselves are tested in test_store.py and
test_migrations.py). PostgreSQL migrates as usual.

Use: ``from tests.tracking.fast_store import migrated_sqlite, store  # noqa: F401``
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.tracking.store.database import Store


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "videojobs.sqlite3"
    template = Store(f"sqlite:///{path}")
    template.migrate()
    template.close()
    return path


@pytest.fixture
def store(database_url: str, migrated_sqlite: Path) -> Iterator[Store]:
    """A migrated store on SQLite (a copy of ``migrated_sqlite``) and on PostgreSQL."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix):
        shutil.copyfile(migrated_sqlite, database_url.removeprefix(prefix))
        store = Store(database_url)
    else:
        store = Store(database_url)
        store.migrate()
    yield store
    store.close()
