"""Keeps the worker's idea of the video minutes left fresh, so a failure digest can warn
when a package is running low (failures then often mean "out of minutes").

One resources-usage call at most every ``every`` (default 10 minutes) from the worker
loop, and only while enough notifications wait for a digest to form: an idle worker
costs the API nothing. The latest warning line (or None) is what
:meth:`QuotaWatch.current` returns. A failed call keeps the last known answer: a warning
must not flicker away because the API hiccuped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from ...metastudio.errors import MetaStudioError
from ...metastudio.operations import Operations
from ...views.quota import warning_line

log = logging.getLogger(__name__)

class QuotaWatch:
    def __init__(self, operations: Operations, *, warn_percent: float, digest_threshold: int,
                 clock: Callable[[], datetime], every: timedelta = timedelta(minutes=10)):
        self.operations = operations
        self.digest_threshold = digest_threshold
        self.warn_percent = warn_percent
        self.clock = clock
        self.every = every
        self._last: datetime | None = None
        self._warning: str | None = None
        self._lock = threading.Lock()

    def current(self) -> str | None:
        """The low-minutes warning as of the last check, or None (the sender's digests
        read it from another thread)."""
        with self._lock:
            return self._warning

    def run_once(self, pending: int) -> str | None:
        """Refresh the warning when due and ``pending`` notifications (the outbox's
        depth) could make a digest; returns the current one."""
        now = self.clock()
        if pending <= self.digest_threshold:
            return self.current()
        if self._last is None or now - self._last >= self.every:
            self._last = now
            try:
                warning = warning_line(self.operations.resources_usage(), self.warn_percent)
                with self._lock:
                    self._warning = warning
            except MetaStudioError as e:
                log.info("resources usage unavailable, keeping the last answer: %s", e)
        return self.current()
