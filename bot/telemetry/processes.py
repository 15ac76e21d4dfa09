"""What a parent does for prometheus_client's multiprocess mode when a child it started
has exited (https://prometheus.github.io/client_python/multiprocess/).

Every process writes its samples to files named by its pid in
``PROMETHEUS_MULTIPROC_DIR``. Counters and histograms of a dead process must stay (they
count what happened), but a gauge in a ``live*`` mode describes a process that runs:
``mark_process_dead`` removes its files, so ``/metrics`` stops showing a value nobody
holds any more (``videojobs_delivery_paused`` at 1 from a tracking process killed while
delivery was paused).

Kept apart from :mod:`bot.telemetry.metrics`: importing that module defines the metrics,
which in multiprocess mode creates files for the importing process; a supervisor that
only cleans up after its children should not appear among them.
"""

from __future__ import annotations

import contextlib
import os

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def forget_process(pid: int) -> None:
    """Remove the ``live*`` gauge samples of ``pid``, a child that has exited; nothing
    outside multiprocess mode. Called by whoever waited for the child: gunicorn's master
    (``child_exit``), the tracking supervisor, a web worker for its answering child."""
    if not os.environ.get(VARIABLE):
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(FileNotFoundError):  # another parent was quicker
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
