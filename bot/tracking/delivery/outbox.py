"""The transactional outbox: notifications written with the state change that caused
them, delivered later under a lease.

Writers call :meth:`Outbox.enqueue` inside the transaction that records the change; the
row's ``dedupe_key`` is UNIQUE, so a change seen twice (two pollers, a retried cycle)
enqueues once. Senders lease whole channels (:meth:`~Outbox.claim_channels`), then the
channels' due rows (:meth:`~Outbox.claim`), :meth:`~Outbox.renew` both leases before
every post (:meth:`~Outbox.begin` before a row's first, which counts the attempt), and
mark rows sent; a row whose sender died is claimed again once its lease has run out.
A channel's ``hold_until`` (Retry-After, pacing, backoff) keeps every sender away from
it; the ``workspace`` pause keeps every sender from posting at all.
See ``docs/delivery.md``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..store import presence
from ..store.database import Store
from ..store.tables import UtcDateTime, delivery_state, outbox, outbox_channels

PENDING, SENT, FAILED = "pending", "sent", "failed"
#: A follow-up that pages groups a notification already on its way did not name
#: (:meth:`Outbox.enqueue_merging_groups`); posted in that notification's thread.
CC = "cc"
#: ``delivery_state`` name of the workspace-wide pause.
WORKSPACE = "workspace"
#: A workflow step's completion (:mod:`.completions`): delivered like a notification,
#: but not one (a waiting step's is due only at its deadline), so not in :meth:`depth`.
STEP = "step"


def track_key(channel: str, job_id: str, state: str) -> str:
    """A tracked job reaching ``state``: one notification per channel."""
    return f"track:{channel}:{job_id}:{state}"


def subscription_key(channel: str, job_id: str, state: str) -> str:
    """A subscribed outcome. Keyed by channel, not subscription: two subscriptions of one
    channel matching one job make one message."""
    return f"sub:{channel}:{job_id}:{state}"


def cc_key(dedupe_key: str, groups: list[str]) -> str:
    """The :data:`CC` paging ``groups`` on the notification ``dedupe_key``."""
    return f"{dedupe_key}+{','.join(groups)}"


def cc_of(key: str) -> str:
    """The notification a :data:`CC` key pages on (group ids have no ``+``)."""
    return key.rsplit("+", 1)[0]


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
        """An earlier claim began a post and may have died before recording it: look for
        the message's marker before posting again. (``attempts`` counts posts begun,
        :meth:`Outbox.begin`, not claims: a row claimed and never tried is not in
        doubt, so whoever takes over a dead sender's untried rows posts them at once,
        folded into a digest if they are a burst.)"""
        return self.attempts > 0


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

    def enqueue_merging_groups(
        self,
        conn: sa.Connection,
        *,
        kind: str,
        channel: str,
        dedupe_key: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> bool:
        """:meth:`enqueue` a notification that pages ``payload["mention_groups"]``. When
        the destination already has it (another reason to tell it came first), its
        audience grows instead of being lost: a row nobody has claimed yet gets the new
        groups in its payload; one already claimed, folded or sent is followed by a
        :data:`CC` row that pages just the new groups in its thread. True if something
        was written."""
        if self.enqueue(conn, kind=kind, channel=channel, dedupe_key=dedupe_key,
                        payload=payload, now=now):
            return True
        return self.add_groups(conn, dedupe_key, payload.get("mention_groups") or [],
                               now=now)

    def add_groups(self, conn: sa.Connection, dedupe_key: str, groups: list[str], *,
                   now: datetime) -> bool:
        """Page ``groups`` too on the notification ``dedupe_key`` (see
        :meth:`enqueue_merging_groups`); nothing when it does not exist (yet). A group
        it paged already, itself or by an earlier :data:`CC`, is not paged again."""
        wanted = [g for g in groups if isinstance(g, str)]
        row = conn.execute(outbox.select().where(outbox.c.dedupe_key == dedupe_key)).first()
        if not wanted or row is None:
            return False
        channel = row.channel
        had = row.payload.get("mention_groups") or (
            [row.payload["mention_group"]] if row.payload.get("mention_group") else [])
        new = sorted(set(wanted) - set(had))
        if new:
            # An incident's page gains a group with each later failure a new
            # subscription matches: its earlier cc rows paged theirs. (By channel
            # first, which is indexed; the key's prefix names the row's cc rows.)
            ccs = conn.execute(sa.select(outbox.c.payload).where(
                outbox.c.channel == channel, outbox.c.kind == CC,
                outbox.c.dedupe_key.startswith(cc_key(dedupe_key, []), autoescape=True))).scalars()
            new = sorted(set(new).difference(*((p.get("mention_groups") or []) for p in ccs)))
        if not new:
            return False
        merged = {**row.payload, "mention_groups": sorted({*had, *new})}
        updated = conn.execute(outbox.update().where(
            outbox.c.id == row.id, outbox.c.status == PENDING,
            outbox.c.lease_owner.is_(None), outbox.c.digest_id.is_(None),
        ).values(payload=merged)).rowcount
        if updated:
            return True
        return self.enqueue(
            conn, kind=CC, channel=channel, dedupe_key=cc_key(dedupe_key, new),
            payload={"job": row.payload.get("job"), "of": row.id, "mention_groups": new},
            now=now)

    # -- senders ----------------------------------------------------------------------

    def claim_channels(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int, senders: int = 1,
        holding: int = 0,
    ) -> list[str]:
        """Lease to ``owner`` up to ``limit`` channels that have due rows, are not held
        (Retry-After, pacing, backoff) and are not leased by another sender; the channel
        waiting longest first. While leased, only ``owner`` sends to them.

        With ``senders`` alive, ``owner`` takes at most its fair share: the channels
        with rows due now (whoever holds them) divided by ``senders``, rounded up, so a
        second sender adds capacity rather than standing by (docs/delivery.md,
        "Sharing the channels"); ``holding`` channels it already has count in it."""
        oc = outbox_channels
        open_channel = sa.and_(
            sa.or_(oc.c.lease_until.is_(None), oc.c.lease_until < now, oc.c.lease_owner == owner),
            sa.or_(oc.c.hold_until.is_(None), oc.c.hold_until <= now),
        )
        first = sa.func.min(outbox.c.id).label("first")
        with self.store.begin() as conn:
            if senders > 1:
                wanting = conn.execute(
                    sa.select(sa.func.count(sa.distinct(outbox.c.channel))).where(
                        outbox.c.status == PENDING, outbox.c.next_attempt_at <= now,
                        outbox.c.digest_id.is_(None))
                ).scalar_one()
                limit = min(limit, -(-int(wanting) // senders) - holding)
            if limit <= 0:
                return []
            candidates = list(conn.execute(
                sa.select(outbox.c.channel, first)
                .select_from(outbox.outerjoin(oc, oc.c.channel == outbox.c.channel))
                .where(self._due(now), sa.or_(oc.c.channel.is_(None), open_channel))
                .group_by(outbox.c.channel).order_by(first).limit(limit)
            ).scalars())
            leased = []
            for channel in candidates:
                self.store.insert_ignore(conn, oc, {"channel": channel})
                # The UPDATE repeats the condition: of two senders racing for a channel,
                # one sees the other's lease (PostgreSQL re-reads the row it waited for;
                # SQLite already serialises writers) and updates nothing.
                if conn.execute(oc.update().where(oc.c.channel == channel, open_channel)
                                .values(lease_owner=owner, lease_until=now + lease)
                                ).rowcount == 1:
                    leased.append(channel)
            return leased

    def release_channel(self, channel: str, owner: str, *, hold_until: datetime | None,
                        reason: str = "paced") -> None:
        """End ``owner``'s lease on ``channel``; nothing is posted there before
        ``hold_until`` (the pacing of its last post) by any sender."""
        oc = outbox_channels
        values: dict[str, Any] = dict(lease_owner=None, lease_until=None)
        if hold_until is not None:
            later = sa.or_(oc.c.hold_until.is_(None), oc.c.hold_until < hold_until)
            values["hold_until"] = sa.case((later, sa.literal(hold_until, UtcDateTime())),
                                           else_=oc.c.hold_until)
            values["hold_reason"] = sa.case((later, reason), else_=oc.c.hold_reason)
        with self.store.begin() as conn:
            conn.execute(oc.update().where(oc.c.channel == channel, oc.c.lease_owner == owner)
                         .values(**values))

    def hold_channel(self, channel: str, until: datetime, reason: str) -> None:
        """Nothing is posted to ``channel`` before ``until`` by any sender, whatever its
        rows' own times (Slack's Retry-After holds for the whole channel)."""
        oc = outbox_channels
        with self.store.begin() as conn:
            self.store.insert_ignore(conn, oc, {"channel": channel})
            conn.execute(oc.update().where(
                oc.c.channel == channel,
                sa.or_(oc.c.hold_until.is_(None), oc.c.hold_until < until),
            ).values(hold_until=until, hold_reason=reason))

    def channel_hold(self, channel: str) -> tuple[datetime, str] | None:
        """Until when ``channel`` is held, and why (None if it never was)."""
        oc = outbox_channels
        with self.store.begin() as conn:
            row = conn.execute(sa.select(oc.c.hold_until, oc.c.hold_reason)
                               .where(oc.c.channel == channel)).first()
        if row is None or row.hold_until is None:
            return None
        return row.hold_until, row.hold_reason or ""

    def renew(self, owner: str, channel: str, row_ids: list[int], *, now: datetime,
              lease: timedelta) -> bool:
        """Extend ``owner``'s leases on ``channel`` and on ``row_ids`` to ``now + lease``,
        or change nothing and return False when any of them is no longer ``owner``'s (or
        a row is no longer pending). Called right before every post: a post is only made
        while its sender holds both leases."""
        return self._renew(owner, channel, row_ids, now=now, lease=lease, begun=False)

    def begin(self, owner: str, channel: str, row_id: int, *, now: datetime,
              lease: timedelta) -> bool:
        """:meth:`renew` right before the first post of ``row_id`` under this claim, and
        count the attempt in the same transaction: from now on the row may be in Slack,
        so whoever claims it next looks for its marker first (``in_doubt``). False, and
        nothing counted, when a lease is no longer ``owner``'s."""
        return self._renew(owner, channel, [row_id], now=now, lease=lease, begun=True)

    def _renew(self, owner: str, channel: str, row_ids: list[int], *, now: datetime,
               lease: timedelta, begun: bool) -> bool:
        until = now + lease
        oc = outbox_channels
        values: dict[str, Any] = {"lease_until": until}
        if begun:
            values["attempts"] = outbox.c.attempts + 1
        try:
            with self.store.begin() as conn:
                held = conn.execute(oc.update().where(
                    oc.c.channel == channel, oc.c.lease_owner == owner, self._alive(owner),
                ).values(lease_until=until)).rowcount == 1
                rows = conn.execute(outbox.update().where(
                    outbox.c.id.in_(row_ids), outbox.c.lease_owner == owner,
                    outbox.c.status == PENDING,
                ).values(**values)).rowcount if row_ids else 0
                if not held or rows != len(row_ids):
                    raise _LeaseLost  # rolls the whole transaction back
        except _LeaseLost:
            return False
        return True

    def keep(self, owner: str, *, now: datetime, lease: timedelta) -> None:
        """Extend every lease ``owner`` holds, on channels and on pending rows, to
        ``now + lease``: a sender's keep-alive while its pass runs, so a lease only has
        to outlast a missed beat, not a Slack call (docs/delivery.md, "Leases kept
        alive"). A lease another sender took is not touched (the owner is re-checked
        in the UPDATE)."""
        until = now + lease
        with self.store.begin() as conn:
            conn.execute(outbox_channels.update().where(
                outbox_channels.c.lease_owner == owner, self._alive(owner),
            ).values(lease_until=until))
            conn.execute(outbox.update().where(
                outbox.c.status == PENDING, outbox.c.lease_owner == owner, self._alive(owner),
            ).values(lease_until=until))

    def _alive(self, owner: str) -> sa.ColumnElement[bool]:
        """A renewal's condition besides the owner: on PostgreSQL, that ``owner`` still
        holds its presence lock if it recorded one (store/presence.py), so a process
        whose lock is gone, and whose leases others may take at once, renews nothing."""
        return presence.alive(owner) if self.store.dialect == "postgresql" else sa.true()

    def release(self, rows: list[Notification], owner: str, *,
                uncount: Collection[int] = ()) -> None:
        """Give back rows ``owner`` claimed but did not post: due again at once for any
        sender. Rows in ``uncount`` had their attempt counted (:meth:`begin`) and were
        refused before anything reached Slack: the count is taken back, so they are not
        "in doubt" either."""
        ids = [r.id for r in rows]
        if not ids:
            return
        mine = sa.and_(outbox.c.lease_owner == owner, outbox.c.status == PENDING)
        with self.store.begin() as conn:
            if uncount:
                # Counted by this owner's begin, so ``attempts - 1`` never goes below
                # zero; the same in reschedule.
                conn.execute(outbox.update().where(
                    outbox.c.id.in_([i for i in ids if i in uncount]), mine,
                ).values(attempts=outbox.c.attempts - 1))
            conn.execute(outbox.update().where(outbox.c.id.in_(ids), mine).values(
                lease_owner=None, lease_until=None))

    # -- the workspace-wide pause ---------------------------------------------------------

    def pause_workspace(self, reason: str, *, now: datetime) -> None:
        """Slack refuses the token: every sender stops posting until :meth:`resume_workspace`."""
        with self.store.begin() as conn:
            if not self.store.insert_ignore(conn, delivery_state, dict(
                    name=WORKSPACE, reason=reason, since=now, updated_at=now)):
                conn.execute(delivery_state.update().where(delivery_state.c.name == WORKSPACE)
                             .values(reason=reason, updated_at=now))

    def resume_workspace(self) -> bool:
        """The token works again; True if delivery was paused."""
        with self.store.begin() as conn:
            return conn.execute(delivery_state.delete().where(
                delivery_state.c.name == WORKSPACE)).rowcount > 0

    def workspace_pause(self) -> tuple[str, datetime] | None:
        """Why and since when delivery is paused for the workspace, or None."""
        with self.store.begin() as conn:
            row = conn.execute(sa.select(delivery_state.c.reason, delivery_state.c.since)
                               .where(delivery_state.c.name == WORKSPACE)).first()
        return (row.reason, row.since) if row is not None else None

    # -- rows -------------------------------------------------------------------------------

    @staticmethod
    def _due(now: datetime) -> sa.ColumnElement[bool]:
        """Pending, due, not folded into a digest (a digest delivers its members), and
        not leased by a live sender."""
        free = sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now)
        return sa.and_(
            outbox.c.status == PENDING, outbox.c.next_attempt_at <= now,
            outbox.c.digest_id.is_(None), free,
        )

    def claim(
        self, owner: str, *, now: datetime, lease: timedelta, limit: int = 200,
        channel: str | None = None,
    ) -> list[Notification]:
        """Lease up to ``limit`` due rows (of ``channel`` when given) to ``owner``, oldest
        first. The attempt is counted only when a post begins (:meth:`begin`).

        Rows folded into a digest are delivered with it, never claimed alone.
        """
        until = now + lease
        due = self._due(now)
        if channel is not None:
            due = sa.and_(due, outbox.c.channel == channel)
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
                lease_owner=owner, lease_until=until,
            ))
            rows = conn.execute(outbox.select().where(
                outbox.c.id.in_(ids), outbox.c.lease_owner == owner,
                outbox.c.lease_until == until,
            ).order_by(outbox.c.id))
            return [Notification(**row._mapping) for row in rows]

    def form_digest(
        self, owner: str, members: list[Notification], *, now: datetime, lease: timedelta,
        payload: dict[str, Any] | None = None,
    ) -> Notification | None:
        """Fold ``members`` (leased by ``owner``, all one destination) into a new digest
        row, leased by ``owner`` too, carrying ``payload`` (where it goes and whom it
        addresses). None if the lease on any of them was lost meanwhile."""
        ids = [m.id for m in members]
        try:
            return self._fold(owner, ids, now=now, lease=lease, payload=payload or {})
        except _LeaseLost:
            return None

    def _fold(
        self, owner: str, ids: list[int], *, now: datetime, lease: timedelta,
        payload: dict[str, Any],
    ) -> Notification:
        with self.store.begin() as conn:
            channel = conn.execute(sa.select(outbox.c.channel).where(outbox.c.id == ids[0])
                                   ).scalar_one()
            inserted = conn.execute(outbox.insert().values(
                kind="digest", channel=channel, payload={"count": len(ids), **payload},
                dedupe_key=f"digest:{channel}:{min(ids)}", status=PENDING,
                attempts=0, failures=0, next_attempt_at=now, created_at=now,
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

    def by_key(self, dedupe_key: str, conn: sa.Connection | None = None) -> Notification | None:
        """The notification with this key, if any (inside ``conn``'s transaction if given)."""
        if conn is None:
            with self.store.begin() as own:
                return self.by_key(dedupe_key, own)
        row = conn.execute(outbox.select().where(outbox.c.dedupe_key == dedupe_key)).first()
        return Notification(**row._mapping) if row is not None else None

    def thread_of(self, row_id: int) -> str | None:
        """Where a follow-up to row ``row_id`` goes: the ts of its message, or of the
        digest it was folded into; None while neither is posted."""
        with self.store.begin() as conn:
            row = conn.execute(sa.select(outbox.c.posted_ts, outbox.c.digest_id).where(
                outbox.c.id == row_id)).first()
            if row is None:
                return None
            if row.posted_ts is None and row.digest_id is not None:
                return conn.execute(sa.select(outbox.c.posted_ts).where(
                    outbox.c.id == row.digest_id)).scalar()
            return str(row.posted_ts) if row.posted_ts else None

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
        self, row: Notification, owner: str, *, at: datetime, error: str, failure: bool,
        uncount: bool = False,
    ) -> None:
        """Release the row until ``at``; ``failure`` counts it as a transient failure
        (a rate limit does not: Slack told us exactly when to come back). With
        ``uncount`` (its post began, :meth:`begin`, but Slack refused it, so nothing of
        it can be in Slack) the attempt is taken back: the row is not "in doubt" next
        time."""
        values: dict[str, Any] = dict(next_attempt_at=at, lease_owner=None, lease_until=None,
                                      last_error=error)
        if failure:
            values["failures"] = outbox.c.failures + 1
        if uncount:
            values["attempts"] = outbox.c.attempts - 1
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

    def next_due(self) -> datetime | None:
        """The earliest moment a pending row could be sent: its own time, or its
        channel's hold (pacing, Retry-After, backoff) if later; None when nothing waits.
        Rows and channels leased by a sender count from their lease's end."""
        oc = outbox_channels
        ready = sa.func.coalesce(outbox.c.lease_until, outbox.c.next_attempt_at)
        start = sa.case((outbox.c.next_attempt_at > ready, outbox.c.next_attempt_at),
                        else_=ready)
        held = sa.case((sa.and_(oc.c.hold_until.is_not(None), oc.c.hold_until > start),
                        oc.c.hold_until), else_=start)
        # A channel another sender holds is its business until that lease ends.
        when = sa.case((sa.and_(oc.c.lease_until.is_not(None), oc.c.lease_until > held),
                        oc.c.lease_until), else_=held)
        with self.store.begin() as conn:
            found: datetime | None = conn.execute(
                sa.select(sa.func.min(when, type_=UtcDateTime()))
                .select_from(outbox.outerjoin(oc, oc.c.channel == outbox.c.channel))
                .where(outbox.c.status == PENDING, outbox.c.digest_id.is_(None))
            ).scalar()
        return found

    def pending_keys(self, keys: list[str], *, besides: set[int]) -> set[str]:
        """Which of these notifications (by dedupe key) are still to be posted, apart
        from rows ``besides`` (the ones just posted)."""
        if not keys:
            return set()
        with self.store.begin() as conn:
            rows = conn.execute(sa.select(outbox.c.id, outbox.c.dedupe_key, outbox.c.digest_id)
                                .where(outbox.c.dedupe_key.in_(keys),
                                       outbox.c.status == PENDING))
            return {key for row_id, key, digest in rows
                    if row_id not in besides and digest not in besides}

    def depth(self) -> int:
        """Notifications waiting to be delivered (digest members count once each;
        workflow steps' completions are not notifications)."""
        with self.store.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
                outbox.c.status == PENDING, outbox.c.kind.not_in(("digest", STEP)),
            )).scalar_one()

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
