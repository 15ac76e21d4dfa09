"""The transactional outbox: notifications written with the state change that caused
them, delivered later under a lease.

Writers call :meth:`Outbox.enqueue` inside the transaction that records the change; the
row's ``dedupe_key`` is UNIQUE, so a change seen twice (two pollers, a retried cycle)
enqueues once. Senders :meth:`~Outbox.claim` due rows with a lease, deliver them, and
mark them sent; a row whose sender died is claimed again once its lease has run out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .models import outbox
from .store import Store

PENDING, SENT, FAILED = "pending", "sent", "failed"


def track_key(channel: str, job_id: str, state: str) -> str:
    """A tracked job reaching ``state``: one notification per channel."""
    return f"track:{channel}:{job_id}:{state}"


def subscription_key(channel: str, job_id: str, state: str) -> str:
    """A subscribed outcome. Keyed by channel, not subscription: two subscriptions of one
    channel matching one job make one message."""
    return f"sub:{channel}:{job_id}:{state}"


@dataclass(frozen=True)
class Notification:
    """One outbox row."""

    id: int
    kind: str  # track | sub | digest
    channel: str
    payload: dict[str, Any]
    dedupe_key: str
    status: str
    attempts: int
    failures: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    posted_ts: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    digest_id: int | None

    @property
    def in_doubt(self) -> bool:
        """An earlier claim may have posted and died before recording it: look for the
        message's marker before posting again."""
        return self.attempts > 1


class _LeaseLost(Exception):
    pass


class Outbox:
    """Rows of the ``outbox`` table, for writers (enqueue) and senders (the rest)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enqueue(
        self,
        conn: sa.Connection,
        *,
        kind: str,
        channel: str,
        dedupe_key: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> bool:
        """Add a notification inside the caller's transaction; False if its key exists."""
        return self.store.insert_ignore(conn, outbox, dict(
            kind=kind, channel=channel, dedupe_key=dedupe_key, payload=payload,
            status=PENDING, attempts=0, failures=0, next_attempt_at=now, created_at=now,
        ))

    # -- senders ----------------------------------------------------------------------

    def claim(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int = 200
    ) -> list[Notification]:
        """Lease up to ``limit`` due rows to ``owner`` (oldest first) and count the attempt.

        Rows folded into a digest are delivered with it, never claimed alone.
        """
        until = now + lease
        free = sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
        due = sa.and_(
            outbox.c.status == PENDING, outbox.c.next_attempt_at <= now,
            outbox.c.digest_id.is_(None), free,
        )
        with self.store.begin() as conn:
            # PostgreSQL: FOR UPDATE SKIP LOCKED lets concurrent senders each take other
            # rows without waiting on one another's locks. SQLite renders no FOR UPDATE;
            # there the transaction already holds the database's single write lock
            # (BEGIN IMMEDIATE, see store.py), so nobody can claim in between. On both,
            # the UPDATE repeats the "due and lease expired" condition, so a row is never
            # leased to two owners even if the SELECT saw it free.
            ids = list(conn.execute(
                sa.select(outbox.c.id).where(due).order_by(outbox.c.id).limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars())
            if not ids:
                return []
            conn.execute(outbox.update().where(outbox.c.id.in_(ids), due).values(
                lease_owner=owner, lease_until=until, attempts=outbox.c.attempts + 1,
            ))
            rows = conn.execute(outbox.select().where(
                outbox.c.id.in_(ids), outbox.c.lease_owner == owner,
                outbox.c.lease_until == until,
            ).order_by(outbox.c.id))
            return [Notification(**row._mapping) for row in rows]

    def form_digest(
        self, owner: str, members: list[Notification], *, now: datetime, lease: timedelta
    ) -> Notification | None:
        """Fold ``members`` (leased by ``owner``, all one channel) into a new digest row,
        leased by ``owner`` too. None if the lease on any of them was lost meanwhile."""
        ids = [m.id for m in members]
        try:
            return self._fold(owner, ids, now=now, lease=lease)
        except _LeaseLost:
            return None

    def _fold(
        self, owner: str, ids: list[int], *, now: datetime, lease: timedelta
    ) -> Notification:
        with self.store.begin() as conn:
            channel = conn.execute(sa.select(outbox.c.channel).where(outbox.c.id == ids[0])
                                   ).scalar_one()
            inserted = conn.execute(outbox.insert().values(
                kind="digest", channel=channel, payload={"count": len(ids)},
                dedupe_key=f"digest:{channel}:{min(ids)}", status=PENDING,
                attempts=1, failures=0, next_attempt_at=now, created_at=now,
                lease_owner=owner, lease_until=now + lease,
            )).inserted_primary_key
            assert inserted is not None  # always set for a single-row INSERT
            digest_id = inserted[0]
            folded = conn.execute(outbox.update().where(
                outbox.c.id.in_(ids), outbox.c.lease_owner == owner,
                outbox.c.status == PENDING, outbox.c.digest_id.is_(None),
            ).values(digest_id=digest_id)).rowcount
            if folded != len(ids):
                raise _LeaseLost  # rolls the digest row back with the transaction
            row = conn.execute(outbox.select().where(outbox.c.id == digest_id)).one()
        return Notification(**row._mapping)

    def members(self, digest_id: int) -> list[Notification]:
        """The notifications a digest summarises, oldest first."""
        with self.store.begin() as conn:
            rows = conn.execute(outbox.select().where(outbox.c.digest_id == digest_id)
                                .order_by(outbox.c.id))
            return [Notification(**row._mapping) for row in rows]

    def mark_posted(self, row: Notification, owner: str, ts: str) -> bool:
        """Record the posted message's ts before the follow-up steps (the tracking
        message edit), so a retry never posts it again."""
        with self.store.begin() as conn:
            return conn.execute(outbox.update().where(
                outbox.c.id == row.id, outbox.c.lease_owner == owner
            ).values(posted_ts=ts)).rowcount == 1

    def mark_sent(self, row: Notification, owner: str, ts: str, *, now: datetime) -> bool:
        """Delivered: the row (and a digest's members, with the digest's ts) is done.
        False if ``owner`` had lost the lease."""
        with self.store.begin() as conn:
            done = conn.execute(outbox.update().where(
                outbox.c.id == row.id, outbox.c.lease_owner == owner,
                outbox.c.status == PENDING,
            ).values(status=SENT, posted_ts=ts, sent_at=now, lease_owner=None,
                     lease_until=None, last_error=None)).rowcount == 1
            if done and row.kind == "digest":
                conn.execute(outbox.update().where(outbox.c.digest_id == row.id).values(
                    status=SENT, posted_ts=ts, sent_at=now))
        return done

    def reschedule(
        self, row: Notification, owner: str, *, at: datetime, error: str, failure: bool
    ) -> None:
        """Release the row until ``at``; ``failure`` counts it towards the give-up limit
        (a rate limit does not: Slack told us exactly when to come back)."""
        values: dict[str, Any] = dict(next_attempt_at=at, lease_owner=None, lease_until=None,
                                      last_error=error)
        if failure:
            values["failures"] = outbox.c.failures + 1
        with self.store.begin() as conn:
            conn.execute(outbox.update().where(
                outbox.c.id == row.id, outbox.c.lease_owner == owner).values(**values))

    def fail(self, row: Notification, owner: str, error: str) -> None:
        """Give up on the row (and a digest's members); ``last_error`` says why."""
        with self.store.begin() as conn:
            conn.execute(outbox.update().where(
                outbox.c.id == row.id, outbox.c.lease_owner == owner
            ).values(status=FAILED, last_error=error, lease_owner=None, lease_until=None))
            conn.execute(outbox.update().where(outbox.c.digest_id == row.id).values(
                status=FAILED, last_error=error))

    def pause_channel(self, channel: str, reason: str) -> None:
        """The bot cannot post in ``channel``: pause its tracking and subscriptions and
        fail what is waiting for it, in one transaction (retrying would fail forever)."""
        with self.store.begin() as conn:
            self.store.pause_channel(conn, channel, reason)
            conn.execute(outbox.update().where(
                outbox.c.channel == channel, outbox.c.status == PENDING
            ).values(status=FAILED, last_error=f"channel paused: {reason}",
                     lease_owner=None, lease_until=None))

    # -- reading ------------------------------------------------------------------------

    def depth(self) -> int:
        """Notifications waiting to be delivered (digest members count once each)."""
        with self.store.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.status == PENDING, outbox.c.kind != "digest")).scalar_one()

    def failed(self, channel: str) -> list[Notification]:
        """The channel's notifications that were given up on (``tracked`` shows them)."""
        with self.store.begin() as conn:
            rows = conn.execute(outbox.select().where(
                outbox.c.channel == channel, outbox.c.status == FAILED,
                outbox.c.kind != "digest").order_by(outbox.c.id))
            return [Notification(**row._mapping) for row in rows]

    def rows(self) -> list[Notification]:
        """Every row, oldest first (for tests and the demo's inspection)."""
        with self.store.begin() as conn:
            return [Notification(**row._mapping)
                    for row in conn.execute(outbox.select().order_by(outbox.c.id))]
