"""Simulated time: a source (real time unless frozen) plus whatever ``advance`` added."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class SimClock:
    """A callable returning an aware UTC datetime, that tests can move forward.

    ``SimClock()`` follows real time (the demo: jobs finish as the minutes pass);
    ``SimClock.frozen(at)`` stands still until ``advance`` (tests: no sleeps).
    """

    def __init__(self, source: Callable[[], datetime] | None = None) -> None:
        self._source = source or (lambda: datetime.now(UTC))
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    @classmethod
    def frozen(cls, at: datetime) -> SimClock:
        """A clock showing ``at`` (made UTC) until advanced."""
        fixed = at.astimezone(UTC)
        return cls(lambda: fixed)

    def __call__(self) -> datetime:
        with self._lock:
            offset = self._offset
        return self._source() + offset

    def advance(self, seconds: float) -> None:
        """Move time forward (or back, with a negative number)."""
        with self._lock:
            self._offset += timedelta(seconds=seconds)
