"""PostgreSQL's driver is the `postgres` extra: without it, a PostgreSQL DATABASE_URL is
refused at start-up with the install command, and SQLite works as before."""

from __future__ import annotations

import sys

import pytest

from bot.settings import SettingsError, load_settings
from tests.test_settings import HTTP_ENV


@pytest.fixture
def without_psycopg(monkeypatch, tmp_path):
    """As on an install without the extra: ``import psycopg`` fails (None in
    sys.modules is how Python marks a module that cannot be imported)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setitem(sys.modules, "psycopg", None)
    for name, value in HTTP_ENV.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.mark.parametrize("url", ["postgres://u:pw@db/videojobs", "postgresql+psycopg://db/v"])
def test_a_postgres_url_without_the_driver_names_the_extra(without_psycopg, url):
    without_psycopg.setenv("DATABASE_URL", url)
    with pytest.raises(SettingsError) as raised:
        load_settings("http")
    assert str(raised.value) == (
        "DATABASE_URL: PostgreSQL needs its driver: pip install 'videojobs[postgres]'"
    )
    assert "pw" not in str(raised.value)


def test_sqlite_needs_no_driver(without_psycopg, tmp_path):
    without_psycopg.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/v.sqlite3")
    assert load_settings("http").database_url.startswith("sqlite:")


def test_with_the_driver_a_postgres_url_is_accepted(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name, value in HTTP_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db/videojobs")
    assert load_settings("http").database_url == "postgresql+psycopg://u@db/videojobs"
