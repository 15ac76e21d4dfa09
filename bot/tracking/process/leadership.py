"""Who polls: one tracking process per database at a time (docs/polling.md, "One poller
per database").

Every tracking process runs the loop; the one holding the ``poller`` lease polls
MetaStudio and runs the watches, the others only send. The holder renews the lease every
third of its length (:meth:`Leadership.keep`, on a :class:`~..store.leases.KeepAlive`
thread), and beats its liveness with it. When it dies the lease runs out, and the first
other process to try takes it: each follower tries at its next cycle, or as soon as the
holder's lease runs out if that comes first (:meth:`Leadership.next_chance`), so polling
resumes within a lease, whatever the poll interval. On PostgreSQL the beat also holds
this process's presence lock (store/presence.py), so others take a dead holder's lease
as soon as its lock is gone, not when the lease runs out. A holder that stops cleanly
lets go at once (:meth:`Leadership.resign`).

A poller that lost the lease without knowing it (stalled past it) and polls once more
costs requests, never a double post: what a poll records is keyed (docs/polling.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from ..store.leases import Leases
from ..store.presence import Presence

log = logging.getLogger(__name__)

#: The lease whose holder polls MetaStudio and runs the watches.
POLLER = "poller"


class Leadership:
    """The ``poller`` lease, seen from one process named ``owner``."""

    def __init__(self, leases: Leases, owner: str, *, clock: Callable[[], datetime],
                 ttl: timedelta, presence: Presence | None = None) -> None:
        self.leases = leases
        self.owner = owner
        self.clock = clock
        self.ttl = ttl
        #: This process's presence lock (PostgreSQL), held and recorded with each beat.
        self.presence = presence
        self.leading = False

    def lead(self) -> bool:
        """Take or keep the lease: True while this process is the one that polls."""
        now = self.clock()
        held = self.leases.take(POLLER, self.owner, now=now, ttl=self.ttl)
        if held and not self.leading:
            log.info("this process polls now (%s)", self.owner)
        elif self.leading and not held:
            log.warning("another process polls now; this one only sends")
        self.leading = held
        return held

    def keep(self) -> None:
        """The keep-alive's beat: this process is alive (holding its presence lock, taken
        again if its connection was lost), and still polls if it did."""
        key = self.presence.hold() if self.presence is not None else None
        now = self.clock()
        self.leases.beat(self.owner, now=now, ttl=self.ttl, lock_key=key)
        if self.leading and not self.leases.renew(POLLER, self.owner, now=now, ttl=self.ttl):
            log.warning("the poller lease was taken by another process; this one only sends")
            self.leading = False

    def next_chance(self) -> float | None:
        """Seconds until the holder's lease runs out (when this process may take it);
        None while this process holds it."""
        if self.leading:
            return None
        owner, until, _ = self.leases.holder(POLLER)
        if owner is None or until is None:
            return 0.0
        return max(0.0, (until - self.clock()).total_seconds())

    def resign(self) -> None:
        """Stopping: let go of the lease and of this process's share of the channels."""
        self.leases.release(POLLER, self.owner)
        self.leases.leave(self.owner)
        self.leading = False
        if self.presence is not None:
            self.presence.close()
