"""The real processes of tests/slack's process tests, on one SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.tracking.processes import Deployment


@pytest.fixture
def deploy(simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Deployment]:
    made = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'videojobs.sqlite3'}",
                      tmp_path)
    yield made
    made.close()
