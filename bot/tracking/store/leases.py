"""Named leases and liveness, shared by every process on one database.

A :class:`Leases` row names a piece of work one process at a time does (the poller,
docs/polling.md, "One poller per database"). Its owner keeps it alive by renewing it
every third of its length (:class:`KeepAlive`); a process that dies stops renewing, and
once the lease has run out any other process takes it. Taking and renewing are one
conditional UPDATE each, so of two processes racing for a lease exactly one gets it
(PostgreSQL re-reads the row it waited for; SQLite serialises writers), and a renewal
by an owner whose lease was taken changes nothing.

``live_processes`` records the tracking processes alive now: each :meth:`Leases.beat`
moves its ``alive_until`` forward; senders divide the channels by :meth:`Leases.live`
(docs/delivery.md, "Sharing the channels").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from .database import Store
from .tables import leases, live_processes

log = logging.getLogger(__name__)


class Leases:
    """The ``leases`` and ``live_processes`` tables."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def take(self, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
        """Hold ``name`` until ``now + ttl``: True if it was free, run out, or already
        ``owner``'s; False while another owner's lease runs."""
        with self.store.begin() as conn:
            self.store.insert_ignore(conn, leases, {"name": name, "taken": 0})
            ours = leases.c.owner == owner
            free = sa.or_(leases.c.owner.is_(None), leases.c.lease_until < now, ours)
            return conn.execute(leases.update().where(leases.c.name == name, free).values(
                owner=owner, lease_until=now + ttl,
                taken=sa.case((ours, leases.c.taken), else_=leases.c.taken + 1),
            )).rowcount == 1

    def renew(self, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
        """Extend ``owner``'s lease on ``name``; False (nothing changed) when it is no
        longer ``owner``'s: another process took it after it ran out."""
        with self.store.begin() as conn:
            return conn.execute(leases.update().where(
                leases.c.name == name, leases.c.owner == owner,
            ).values(lease_until=now + ttl)).rowcount == 1

    def release(self, name: str, owner: str) -> None:
        """Let go of ``name`` (if still ``owner``'s): anyone may take it at once."""
        with self.store.begin() as conn:
            conn.execute(leases.update().where(leases.c.name == name, leases.c.owner == owner)
                         .values(owner=None, lease_until=None))

    def holder(self, name: str) -> tuple[str | None, datetime | None, int]:
        """Who holds ``name``, until when, and how many times it changed hands."""
        with self.store.begin() as conn:
            row = conn.execute(sa.select(leases.c.owner, leases.c.lease_until, leases.c.taken)
                               .where(leases.c.name == name)).first()
        return (row.owner, row.lease_until, row.taken) if row is not None else (None, None, 0)

    # -- liveness ---------------------------------------------------------------------

    def beat(self, owner: str, *, now: datetime, ttl: timedelta,
             lock_key: int | None = None) -> None:
        """``owner`` is alive until ``now + ttl``, holding the presence lock ``lock_key``
        (presence.py; None: no lock, so it is never reaped). Its first beat also deletes
        the rows of processes that stopped beating an hour ago (killed, so they never
        left)."""
        with self.store.begin() as conn:
            if self.store.insert_ignore(conn, live_processes, dict(
                    owner=owner, alive_until=now + ttl, started_at=now, lock_key=lock_key)):
                conn.execute(live_processes.delete().where(
                    live_processes.c.alive_until < now - timedelta(hours=1)))
            else:
                conn.execute(live_processes.update().where(live_processes.c.owner == owner)
                             .values(alive_until=now + ttl, lock_key=lock_key))

    def leave(self, owner: str) -> None:
        """``owner`` stops (its share goes to the others at once)."""
        with self.store.begin() as conn:
            conn.execute(live_processes.delete().where(live_processes.c.owner == owner))

    def live(self, now: datetime) -> int:
        """How many tracking processes are alive at ``now``."""
        with self.store.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(live_processes)
                                    .where(live_processes.c.alive_until >= now)).scalar_one())


class KeepAlive:
    """Calls ``renew`` every ``every`` seconds of real time on a daemon thread, from
    :meth:`start` until :meth:`stop`; a failing call is logged and tried again at the
    next tick (a lease then runs out only if the failures outlast it)."""

    def __init__(self, renew: Callable[[], object], every: float, *, name: str) -> None:
        self.renew = renew
        self.every = every
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> KeepAlive:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(5.0, self.every * 2))
        self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew()
            except Exception:
                log.warning("%s: could not renew; trying again in %g s", self.name, self.every,
                            exc_info=True)
