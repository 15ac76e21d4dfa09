"""Every benchmark runs in its quick mode, so ``bench/`` does not rot. Speed is not
asserted here (STYLE.md: benchmarks print ratios); only that each one runs to the end and
produces its figures."""

from __future__ import annotations

import importlib
import math

import pytest

from bench.__main__ import BENCHMARKS
from bench.common import Row, table

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_in_quick_mode(name: str) -> None:
    rows = importlib.import_module(f"bench.{name}").run(quick=True)

    assert rows and all(isinstance(r, Row) and r.bench == name for r in rows)
    assert all(not math.isnan(r.value) for r in rows), table(rows)
    assert f"| {name} |" in table(rows)
