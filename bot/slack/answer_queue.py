"""The bot's own bounded executor for the slow half of commands and button clicks.

Bolt's lazy listeners deep-copy each request and queue without bound, so at load the
answers waited behind one another for many seconds while the acks stayed fast. Here a
fixed number of threads answer, a fixed number more may wait, and past that the caller
is told at once to answer "busy" (see docs/operations.md, "Load").

Written without ThreadPoolExecutor on purpose: its ``submit`` takes a lock shared by
every executor in the process (gunicorn's gthread worker submits each request through
one), and under load the request threads queued on that lock while its holder waited
for the GIL. Here ``submit`` touches only a deque and a SimpleQueue, whose operations
are atomic in C.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

BUSY_TEXT = "⏳ The bot is busy right now; try again in a minute."
#: At exit, how long answers in flight may take to finish (MetaStudio's own deadline).
DRAIN_SECONDS = 30.0

_Job = tuple[Callable[..., Any], tuple[Any, ...]] | None
_LIVE: weakref.WeakSet[AnswerQueue] = weakref.WeakSet()


class AnswerQueue:
    """``submit`` runs a function on one of ``workers`` threads, or refuses at once
    when ``workers + waiting`` are already taken."""

    def __init__(self, workers: int, waiting: int | None = None) -> None:
        self.workers = workers
        self.capacity = workers + (workers if waiting is None else waiting)
        #: One token per place; pop() and append() are atomic, so taking a place never
        #: waits on a lock.
        self._places: collections.deque[int] = collections.deque(range(self.capacity))
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._started = itertools.count()
        self._threads: list[threading.Thread] = []
        self._closed = False
        _LIVE.add(self)

    def submit(self, fn: Callable[..., Any], *args: Any) -> bool:
        """Queue ``fn(*args)``; False (and nothing queued) when the queue is full."""
        if self._closed:
            return False
        try:
            place = self._places.pop()
        except IndexError:
            return False
        self._jobs.put((fn, (place, *args)))
        if next(self._started) < self.workers:  # threads start as work first arrives
            thread = threading.Thread(target=self._work, name="answer", daemon=True)
            self._threads.append(thread)
            thread.start()
        return True

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, (place, *args) = job
            try:
                fn(*args)
            except Exception:
                # The router already turns failures into replies; this is a bug in the
                # glue, logged with its traceback rather than lost.
                log.exception("answering failed")
            finally:
                self._places.append(place)

    def shutdown(self, wait: bool = True, timeout: float = DRAIN_SECONDS) -> None:
        """Refuse new work; let the queued answers finish (up to ``timeout`` seconds)."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)
        if wait:
            deadline = time.monotonic() + timeout
            for thread in list(self._threads):
                thread.join(max(0.0, deadline - time.monotonic()))


@atexit.register
def _drain_all() -> None:
    # Worker threads are daemons (an idle one must not keep a process alive); at exit
    # the answers already accepted still go out.
    for answers in list(_LIVE):
        answers.shutdown(timeout=DRAIN_SECONDS)
