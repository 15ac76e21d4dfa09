"""``PROMETHEUS_MULTIPROC_DIR`` for ``videojobs-bot http``: one directory shared by the
gunicorn workers and the tracking child, so ``/metrics`` shows every process's samples.

Kept apart from :mod:`bot.telemetry.metrics` on purpose: prometheus_client picks its storage when
it is first imported, so the variable must be set before that import happens.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> Path:
    """Use ``$PROMETHEUS_MULTIPROC_DIR`` emptied of an earlier run's files, or a new
    temporary directory removed at exit; export it to this process and its children."""
    given = os.environ.get(VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # the library's files from a previous run
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="videojobs-metrics-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
    os.environ[VARIABLE] = str(path)
    return path
