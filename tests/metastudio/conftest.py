"""Fixtures the MetaStudio tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes import raw_http


@pytest.fixture
def server() -> Iterator[raw_http.RawHttpServer]:
    """A loopback HTTP server that misbehaves as each test sets (tests/fakes/raw_http.py)."""
    server = raw_http.RawHttpServer()
    yield server
    server.close()
