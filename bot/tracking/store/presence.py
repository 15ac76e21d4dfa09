"""A death noticed at once: on PostgreSQL every tracking worker holds a session advisory
lock for as long as it lives (docs/delivery.md, "A death noticed at once").

Leases alone leave a dead process's channels, rows and poller lease waiting until they
run out (2 s). A session-level advisory lock ends with its connection, and the kernel
closes a process's sockets when it dies, ``kill -9`` included, so PostgreSQL drops the
lock at once. Each worker therefore holds ``pg_advisory_lock(NAMESPACE, key)`` on a
connection of its own (:class:`Presence`) and records the key in
``live_processes.lock_key`` with its beat. Every other worker, while it waits and between
its posts, looks for recorded keys whose lock is gone (:func:`reap`) and ends that
owner's leases and liveness on the spot; its next claim takes them.

A live process whose lock connection was cut must stop posting before anyone takes its
work: every renewal before a post, and the keep-alive's, requires the owner's lock
(:func:`alive`), and a sender that may be reaped renews before every post
(``Sender._hold_leases``). Processes without a recorded key (SQLite, the web
process's sender) are never reaped: their leases run out as before.

Written by hand: SQLAlchemy has no advisory-lock API, and these are three SQL calls.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .database import Store
from .tables import leases, live_processes, outbox, outbox_channels

log = logging.getLogger(__name__)

#: The first half of every presence lock's key ("vjob"), so that the second half, a
#: random 31-bit number per process, never meets another application's advisory locks.
NAMESPACE = 0x766A6F62
#: A reaped owner's leases and liveness end just before the moment it was reaped.
_EPSILON = timedelta(microseconds=1)

_pg_locks = sa.table("pg_locks", sa.column("locktype"), sa.column("database"),
                     sa.column("classid"), sa.column("objid"), sa.column("objsubid"),
                     sa.column("granted"))
_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(CAST(:ns AS integer), CAST(:key AS integer))")
_pg_database = sa.table("pg_database", sa.column("oid"), sa.column("datname"))


def _held_keys() -> sa.Select[Any]:
    """The presence keys whose lock some session holds now, in this database (advisory
    locks are cluster-wide; a two-integer lock shows as classid/objid, objsubid 2)."""
    return sa.select(sa.cast(_pg_locks.c.objid, sa.BigInteger)).where(
        _pg_locks.c.locktype == "advisory",
        _pg_locks.c.objsubid == 2,
        _pg_locks.c.granted.is_(True),
        sa.cast(_pg_locks.c.classid, sa.BigInteger) == NAMESPACE,
        _pg_locks.c.database == sa.select(_pg_database.c.oid)
        .where(_pg_database.c.datname == sa.func.current_database()).scalar_subquery(),
    )


def alive(owner: str) -> sa.ColumnElement[bool]:
    """SQL (PostgreSQL only): ``owner`` has recorded no presence lock, or still holds it.
    A renewal that requires this is refused once the owner's lock is gone, which is
    exactly when :func:`reap` lets others take its leases."""
    lp = live_processes
    return ~sa.exists().where(
        lp.c.owner == owner, lp.c.lock_key.is_not(None),
        sa.cast(lp.c.lock_key, sa.BigInteger).not_in(_held_keys()),
    )


def reap(store: Store, now: datetime) -> list[str]:
    """End just before ``now`` the leases and liveness of every process whose presence lock is
    gone (it died, or its lock connection was cut): its channels, pending rows and
    named leases (the poller) can be taken by the next claim. The owners reaped; none on
    SQLite, where one process is all there is."""
    if store.dialect != "postgresql":
        return []
    lp = live_processes
    with store.begin() as conn:
        recorded = conn.execute(sa.select(lp.c.owner, lp.c.lock_key).where(
            lp.c.lock_key.is_not(None), lp.c.alive_until >= now)).all()
        if not recorded:
            return []
        held = set(conn.execute(_held_keys()).scalars())
        dead = [row.owner for row in recorded if row.lock_key not in held]
        if not dead:
            return []
        for table, owner_column in ((outbox_channels, outbox_channels.c.lease_owner),
                                    (outbox, outbox.c.lease_owner),
                                    (leases, leases.c.owner)):
            # Just before ``now``: a claim at ``now`` (the same pass) takes them.
            conn.execute(table.update().where(owner_column.in_(dead),
                                              table.c.lease_until >= now)
                         .values(lease_until=now - _EPSILON))
        # Not deleted: its row (and key) keeps refusing its renewals should it be alive
        # without its lock; no longer counted among the live senders.
        conn.execute(lp.update().where(lp.c.owner.in_(dead))
                     .values(alive_until=now - _EPSILON))
    log.warning("presence lock gone: %s taken for dead; its leases end now", ", ".join(dead))
    return dead


class Presence:
    """This process's presence lock, on a connection of its own (PostgreSQL only)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.key: int | None = None
        self._conn: sa.Connection | None = None
        self._mutex = threading.Lock()

    def hold(self) -> int | None:
        """Take the lock, or check that it is still held and take it again on a new
        connection if the old one was lost. The key held, or None when the database
        cannot be reached now (the next beat tries again)."""
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(sa.text("SELECT 1"))
                    return self.key
                except sa.exc.DBAPIError:
                    log.warning("presence lock connection lost; taking the lock again")
                    self._discard()
            try:
                conn = self.store.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT")
            except sa.exc.DBAPIError:
                log.warning("could not connect to take the presence lock", exc_info=True)
                return None
            # The same key if it is free (a connection cut), else a new one.
            candidates = ([self.key] if self.key is not None else []) + [
                secrets.randbelow(2**31) for _ in range(4)]
            for key in candidates:
                taken = conn.execute(_TRY_LOCK,
                                     {"ns": NAMESPACE, "key": key}).scalar_one()
                if taken:
                    self._conn, self.key = conn, key
                    return key
            conn.close()
            self.key = None
            return None

    def close(self) -> None:
        """Stopping: let go of the lock (closing its connection ends it)."""
        with self._mutex:
            self._discard()

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except sa.exc.DBAPIError:
                pass
            self._conn = None

