"""The layering of docs/architecture.md is a contract CI checks (``lint-imports``): it
holds on the tree as it is, and breaks when a lower layer imports a higher one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(tree), "PATH": ""})


def test_the_tree_keeps_every_layering_contract() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(("module", "imports"), [
    ("bot/domain/reply.py", "from ..views import blocks"),            # domain -> views
    ("bot/views/home.py", "from ..tracking.store import database"),   # views -> tracking
    ("bot/tracking/store/retention.py", "from ..delivery import outbox"),  # store -> delivery
    ("bot/simulator/jobs.py", "from ..tracking.store import database"),  # simulator -> bot
])
def test_an_import_running_back_up_breaks_the_contract(
        tmp_path: Path, module: str, imports: str) -> None:
    shutil.copytree(ROOT / "bot", tmp_path / "bot",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{imports}  # noqa\n")
    done = _lint(tmp_path)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout + done.stderr
