"""The bot's own bounded executor for the slow half of commands and button clicks.

Bolt's lazy listeners deep-copy each request and queue without bound, so at load the
answers waited behind one another for many seconds while the acks stayed fast. Here a
fixed number of threads answer, a fixed number more may wait, and past that the caller
is told at once to answer "busy" (see docs/operations.md, "Load").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

BUSY_TEXT = "⏳ The bot is busy right now; try again in a minute."


class AnswerQueue:
    """``submit`` runs a function on one of ``workers`` threads, or refuses at once
    when ``workers + waiting`` are already taken."""

    def __init__(self, workers: int, waiting: int | None = None) -> None:
        self.workers = workers
        self.capacity = workers + (workers if waiting is None else waiting)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="answer")
        self._slots = threading.BoundedSemaphore(self.capacity)

    def submit(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Queue ``fn(*args)``; False (and nothing queued) when the queue is full."""
        if not self._slots.acquire(blocking=False):
            return False

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                # The router already turns failures into replies; this is a bug in the
                # glue, logged (with its traceback) rather than lost in a future.
                log.exception("answering failed")
            finally:
                self._slots.release()

        try:
            self._executor.submit(run)
        except RuntimeError:  # shut down
            self._slots.release()
            return False
        return True

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait)
