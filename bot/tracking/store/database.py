"""The tracking database: SQLite file by default, PostgreSQL for shared state.

:class:`Store` owns the engine, runs the Alembic migrations (``migrate``) and holds the
queries on tracked jobs and subscriptions. The outbox has its own module
(:mod:`bot.tracking.delivery.outbox`); both write through :meth:`Store.begin`, so a state change
and the notification it causes commit together.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite

from ...domain.records import AuditEntry, Subscription, TrackedJob
from .tables import (
    action_claims,
    audit_log,
    callback_receipts,
    event_receipts,
    seen_outcomes,
    slack_covers,
    subscriptions,
    tracked_jobs,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
#: First key of the PostgreSQL advisory lock that serialises migrations (the second is
#: the schema's hash, so apps in other schemas of one database do not wait on each other).
MIGRATION_LOCK = 0x766A6273  # "vjbs"


#: Seconds to wait for a pooled connection, and (PostgreSQL) to connect: a lost
#: database fails fast instead of holding threads (docs/operations.md).
POOL_TIMEOUT = 10
CONNECT_TIMEOUT = 5
#: PostgreSQL: the longest any statement may run, and how soon a connection whose
#: packets are dropped is declared dead (TCP keepalives, TCP_USER_TIMEOUT).
STATEMENT_TIMEOUT_MS = 30_000
_PG_CONNECT_ARGS = {"connect_timeout": CONNECT_TIMEOUT, "keepalives": 1,
                    "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
                    "tcp_user_timeout": 30_000}


def _postgres_engine(url: str) -> sa.Engine:
    # The URL may carry libpq options of its own (a search_path); keep them.
    given = sa.engine.make_url(url).query.get("options")
    options = " ".join([*([given] if isinstance(given, str) else given or ()),
                        f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"])
    return sa.create_engine(url, pool_pre_ping=True, pool_timeout=POOL_TIMEOUT,
                            connect_args={**_PG_CONNECT_ARGS, "options": options})


#: How long a process waits for another one that holds SQLite's lock while switching
#: the database to WAL.
WAL_SWITCH_SECONDS = 30.0


def _ensure_wal(dbapi_conn: Any) -> None:
    """Put the database file in WAL mode, once. WAL is a property of the file, so a
    connection only reads the mode; only when it is not WAL yet does it switch, which
    needs a moment of exclusive access. Processes starting together race for that moment:
    SQLite answers "database is locked" at once (the busy timeout does not cover a
    journal mode change, https://www.sqlite.org/pragma.html#pragma_journal_mode), so the
    loser waits and looks again; usually the winner has switched it by then."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    delay = 0.01
    while True:
        try:
            mode = str(dbapi_conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode in ("wal", "memory"):
                return
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(delay)  # a back-off between attempts, not an ordering
        delay = min(delay * 2, 0.5)


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30}, pool_timeout=POOL_TIMEOUT)
    wal_checked = threading.Event()

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own BEGIN is deferred; we emit BEGIN IMMEDIATE ourselves (below).
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        if not wal_checked.is_set():
            _ensure_wal(dbapi_conn)
            wal_checked.set()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # SQLite has one writer at a time. A deferred transaction that reads and then
        # writes can fail with "database is locked" when another process wrote in
        # between; taking the write lock at BEGIN makes every transaction wait its turn
        # (busy timeout above) instead. This is also what makes the outbox claim safe.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Store:
    """Tracked jobs and subscriptions of every channel, in one database.

    >>> store = Store("sqlite:///videojobs.sqlite3")
    >>> store.migrate()   # at start-up: creates or upgrades the schema, keeping rows
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url)
        else:
            self.engine = _postgres_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (Alembic), keeping existing rows."""
        self.migrate_to("head")

    def migrate_to(self, revision: str) -> None:
        """Upgrade to ``revision`` (tests build older schemas with it)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            # Processes starting together (gunicorn workers, web and worker dynos) all
            # migrate; one at a time, each finding the schema where the last one left it.
            # PostgreSQL: a transaction-level advisory lock, released at commit or
            # rollback (or when the connection dies). SQLite: BEGIN IMMEDIATE (see
            # _sqlite_engine) already took the database's write lock for this transaction.
            if self.dialect == "postgresql":
                conn.execute(sa.text(
                    "SELECT pg_advisory_xact_lock(:app, hashtext(coalesce(current_schema(), '')))"
                ), {"app": MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, revision)

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """One transaction: committed when the block ends, rolled back on an exception."""
        with self.engine.begin() as conn:
            yield conn

    def insert_ignore(
        self, conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]
    ) -> bool:
        """Insert unless a unique key already holds the row; True if inserted. Two
        processes seeing the same change both try, and exactly one row results."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        key = next(iter(table.primary_key.columns))
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
        # RETURNING, not rowcount: drivers report -1 for a skipped conflicting insert.
        return conn.execute(statement.returning(key)).first() is not None

    def close(self) -> None:
        self.engine.dispose()

    # -- tracked jobs -------------------------------------------------------------------

    def pollable(self) -> list[TrackedJob]:
        """Unfinished tracked jobs of channels that are not paused: what the poller asks
        MetaStudio about."""
        query = tracked_jobs.select().where(
            tracked_jobs.c.closed.is_(False), tracked_jobs.c.paused_reason.is_(None)
        )
        return self._tracked(query.order_by(tracked_jobs.c.id))

    def pollable_ids(self) -> list[tuple[str, datetime | None]]:
        """(job_id, job_created_at) of :meth:`pollable`'s rows: what the poller keeps in
        memory for a whole cycle (a row's other columns are read batch by batch)."""
        query = sa.select(tracked_jobs.c.job_id, tracked_jobs.c.job_created_at).where(
            tracked_jobs.c.closed.is_(False), tracked_jobs.c.paused_reason.is_(None)
        ).order_by(tracked_jobs.c.id)
        with self.begin() as conn:
            return [(row.job_id, row.job_created_at) for row in conn.execute(query)]

    def pollable_for(self, job_ids: Iterable[str]) -> list[TrackedJob]:
        """:meth:`pollable`'s rows for these jobs."""
        ids = list(job_ids)
        if not ids:
            return []
        query = tracked_jobs.select().where(
            tracked_jobs.c.job_id.in_(ids), tracked_jobs.c.closed.is_(False),
            tracked_jobs.c.paused_reason.is_(None))
        return self._tracked(query.order_by(tracked_jobs.c.id))

    def channel_tracked(self, channel: str) -> list[TrackedJob]:
        """What ``tracked`` lists: the channel's unfinished jobs, paused ones included."""
        query = tracked_jobs.select().where(
            tracked_jobs.c.channel == channel, tracked_jobs.c.closed.is_(False)
        )
        return self._tracked(query.order_by(tracked_jobs.c.id))

    def in_message(self, channel: str, message_ts: str) -> list[TrackedJob]:
        """The jobs one tracking message shows (one ``track`` command posts one)."""
        query = tracked_jobs.select().where(
            tracked_jobs.c.channel == channel, tracked_jobs.c.message_ts == message_ts
        )
        return self._tracked(query.order_by(tracked_jobs.c.id))

    def tracked_pairs(self, job_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(channel, job_id) of every tracking of these jobs, finished or not."""
        ids = list(set(job_ids))
        if not ids:
            return set()
        query = sa.select(tracked_jobs.c.channel, tracked_jobs.c.job_id).where(
            tracked_jobs.c.job_id.in_(ids)
        )
        with self.begin() as conn:
            return {(row.channel, row.job_id) for row in conn.execute(query)}

    def add_tracked(
        self,
        channel: str,
        jobs: Iterable[tuple[str, str | None, datetime | None]],
        *,
        message_ts: str,
        requested_by: str,
        now: datetime,
        thread_only: bool = False,
    ) -> list[str]:
        """Track ``(job_id, state, create_time)`` under ``message_ts``; returns the ids
        newly tracked (one already tracked here is left as it was). A successful post in
        the channel proves the bot can post there again, so its pause is lifted.
        ``thread_only``: ``message_ts`` is not a tracking message (never redrawn)."""
        added = []
        with self.begin() as conn:
            self._resume(conn, channel)
            for job_id, state, created in jobs:
                values = dict(
                    channel=channel, job_id=job_id, message_ts=message_ts,
                    requested_by=requested_by, last_state=state, job_created_at=created,
                    created_at=now, closed=False, thread_only=thread_only,
                )
                if self.insert_ignore(conn, tracked_jobs, values):
                    added.append(job_id)
        return added

    def untrack(self, channel: str, job_id: str) -> bool:
        """Stop tracking; False if the channel was not tracking the job."""
        with self.begin() as conn:
            result = conn.execute(tracked_jobs.delete().where(
                tracked_jobs.c.channel == channel, tracked_jobs.c.job_id == job_id,
                tracked_jobs.c.closed.is_(False),
            ))
        return result.rowcount > 0

    def set_state(self, tracked_id: int, state: str) -> None:
        """Record an unfinished state change (no notification: only end states notify)."""
        with self.begin() as conn:
            conn.execute(tracked_jobs.update().where(tracked_jobs.c.id == tracked_id)
                         .values(last_state=state))

    def finish_tracked(
        self, conn: sa.Connection, tracked_id: int, state: str, now: datetime | None = None
    ) -> bool:
        """Close a tracked job at its end state, inside the caller's transaction (the
        one that enqueues its notification). False if another poller closed it first."""
        result = conn.execute(tracked_jobs.update().where(
            tracked_jobs.c.id == tracked_id, tracked_jobs.c.closed.is_(False)
        ).values(last_state=state, closed=True, closed_at=now))
        return result.rowcount == 1

    def open_tracked(self, conn: sa.Connection, job_id: str) -> list[TrackedJob]:
        """The unfinished trackings of one job in unpaused channels, in the caller's
        transaction (a callback's look-up)."""
        query = tracked_jobs.select().where(
            tracked_jobs.c.job_id == job_id, tracked_jobs.c.closed.is_(False),
            tracked_jobs.c.paused_reason.is_(None)).order_by(tracked_jobs.c.id)
        return [TrackedJob(**row._mapping) for row in conn.execute(query)]

    def tracked_channels(self, conn: sa.Connection, job_id: str) -> set[str]:
        """Channels tracking the job, finished or not, in the caller's transaction."""
        query = sa.select(tracked_jobs.c.channel).where(tracked_jobs.c.job_id == job_id)
        return set(conn.execute(query).scalars())

    def tracking_message_of(self, channel: str, job_id: str) -> str | None:
        """The ts of the message that tracks ``job_id`` in ``channel`` (open), if any."""
        with self.begin() as conn:
            return conn.execute(sa.select(tracked_jobs.c.message_ts).where(
                tracked_jobs.c.channel == channel, tracked_jobs.c.job_id == job_id,
                tracked_jobs.c.closed.is_(False))).scalar()

    def open_channels(self, job_id: str) -> list[str]:
        """Channels still tracking ``job_id`` (unfinished there)."""
        with self.begin() as conn:
            return list(conn.execute(sa.select(tracked_jobs.c.channel).where(
                tracked_jobs.c.job_id == job_id, tracked_jobs.c.closed.is_(False))).scalars())

    def tracked_by(self, user_id: str, *, limit: int) -> list[TrackedJob]:
        """The person's unfinished tracked jobs, newest first (their Home tab)."""
        return self._tracked(tracked_jobs.select().where(
            tracked_jobs.c.requested_by == user_id, tracked_jobs.c.closed.is_(False)
        ).order_by(tracked_jobs.c.id.desc()).limit(limit))

    def _tracked(self, query: sa.Select[Any]) -> list[TrackedJob]:
        with self.begin() as conn:
            return [TrackedJob(**row._mapping) for row in conn.execute(query)]

    # -- subscriptions --------------------------------------------------------------------

    def add_subscription(
        self,
        channel: str,
        *,
        outcome: str,
        job_type: str | None,
        asset_name: str | None,
        script_id: str | None,
        created_by: str,
        now: datetime,
    ) -> tuple[Subscription, bool]:
        """The channel's subscription with these filters, and whether it is new. Its
        ``created_at`` is the baseline: only jobs ending after it are announced."""
        filters = dict(outcome=outcome, job_type=job_type, asset_name=asset_name,
                       script_id=script_id)
        with self.begin() as conn:
            same = [subscriptions.c[name].is_(value) if value is None
                    else subscriptions.c[name] == value for name, value in filters.items()]
            existing = conn.execute(subscriptions.select().where(
                subscriptions.c.channel == channel, *same)).first()
            if existing is not None:
                return Subscription(**existing._mapping), False
            inserted = conn.execute(subscriptions.insert().values(
                channel=channel, created_by=created_by, created_at=now, **filters
            )).inserted_primary_key
            assert inserted is not None  # always set for a single-row INSERT
            new_id = inserted[0]
            row = conn.execute(subscriptions.select().where(subscriptions.c.id == new_id)).one()
        return Subscription(**row._mapping), True

    def remove_subscription(self, channel: str, subscription_id: int) -> bool:
        """Delete one of the channel's subscriptions (and what it has seen)."""
        with self.begin() as conn:
            result = conn.execute(subscriptions.delete().where(
                subscriptions.c.id == subscription_id, subscriptions.c.channel == channel))
            # Only when it was this channel's: another channel naming the same number
            # must not erase what it has announced (that would announce it again).
            if result.rowcount > 0:
                conn.execute(seen_outcomes.delete().where(
                    seen_outcomes.c.subscription_id == subscription_id))
        return result.rowcount > 0

    def channel_subscriptions(self, channel: str) -> list[Subscription]:
        return self._subscriptions(subscriptions.select().where(subscriptions.c.channel == channel))

    def active_subscriptions(self) -> list[Subscription]:
        """Subscriptions of channels that are not paused."""
        return self._subscriptions(
            subscriptions.select().where(subscriptions.c.paused_reason.is_(None)))

    def seen(self, subscription_ids: Iterable[int], job_ids: Iterable[str]) -> set[tuple[Any, ...]]:
        """(subscription_id, job_id, outcome) already announced, among these."""
        subs, jobs = list(subscription_ids), list(set(job_ids))
        if not subs or not jobs:
            return set()
        query = sa.select(seen_outcomes.c.subscription_id, seen_outcomes.c.job_id,
                          seen_outcomes.c.outcome).where(
            seen_outcomes.c.subscription_id.in_(subs), seen_outcomes.c.job_id.in_(jobs))
        with self.begin() as conn:
            return {tuple(row) for row in conn.execute(query)}

    def seen_by(self, conn: sa.Connection, subscription_ids: Iterable[int],
                job_id: str) -> set[tuple[int, str]]:
        """(subscription id, outcome) already announced for ``job_id``, inside the
        caller's transaction."""
        query = sa.select(seen_outcomes.c.subscription_id, seen_outcomes.c.outcome).where(
            seen_outcomes.c.subscription_id.in_(list(subscription_ids)),
            seen_outcomes.c.job_id == job_id)
        return {(row.subscription_id, row.outcome) for row in conn.execute(query)}

    def mark_seen(
        self, conn: sa.Connection, subscription_id: int, job_id: str, outcome: str,
        now: datetime,
    ) -> bool:
        """Record an announced outcome inside the caller's transaction; False if it was."""
        return self.insert_ignore(conn, seen_outcomes, dict(
            subscription_id=subscription_id, job_id=job_id, outcome=outcome, seen_at=now))

    def mark_swept(self, subscription_ids: Iterable[int], now: datetime) -> None:
        """Note the first sweep of subscriptions (kept once set)."""
        ids = list(subscription_ids)
        if not ids:
            return
        with self.begin() as conn:
            conn.execute(subscriptions.update().where(
                subscriptions.c.id.in_(ids), subscriptions.c.swept_at.is_(None)
            ).values(swept_at=now))

    def subscriptions_in(self, channels: Iterable[str]) -> list[Subscription]:
        """The subscriptions of these channels (a person's Home tab)."""
        wanted = list(channels)
        if not wanted:
            return []
        return self._subscriptions(subscriptions.select().where(
            subscriptions.c.channel.in_(wanted)))

    def _subscriptions(self, query: sa.Select[Any]) -> list[Subscription]:
        with self.begin() as conn:
            rows = conn.execute(query.order_by(subscriptions.c.id))
            return [Subscription(**row._mapping) for row in rows]

    # -- channels ------------------------------------------------------------------------

    def pause_channel(self, conn: sa.Connection, channel: str, reason: str) -> None:
        """Stop polling for and posting to a channel the bot cannot post in; ``tracked``
        and ``subscriptions`` show ``reason``."""
        for table in (tracked_jobs, subscriptions):
            conn.execute(table.update().where(table.c.channel == channel)
                         .values(paused_reason=reason))

    def resume_channel(self, channel: str) -> None:
        """Lift a channel's pause once a post there has succeeded again."""
        with self.begin() as conn:
            self._resume(conn, channel)

    def _resume(self, conn: sa.Connection, channel: str) -> None:
        for table in (tracked_jobs, subscriptions):
            conn.execute(table.update().where(
                table.c.channel == channel, table.c.paused_reason.is_not(None)
            ).values(paused_reason=None))

    # -- callbacks and covers -----------------------------------------------------------

    def first_receipt(self, receipt: str, now: datetime) -> bool:
        """Record a MetaStudio callback's receipt; False if it was seen before (a replay)."""
        with self.begin() as conn:
            return self.insert_ignore(conn, callback_receipts,
                                      {"secret": receipt, "received_at": now})

    def first_event(self, event_id: str, now: datetime) -> bool:
        """Record a Slack event's id; False if it was recorded before (Slack retrying
        it, to this process or another one on the same database)."""
        with self.begin() as conn:
            return self.insert_ignore(conn, event_receipts,
                                      {"event_id": event_id, "received_at": now})

    def cover_file(self, job_id: str) -> str | None:
        """The Slack file a job's cover was uploaded as, if any."""
        with self.begin() as conn:
            found = conn.execute(sa.select(slack_covers.c.file_id).where(
                slack_covers.c.job_id == job_id)).scalar()
        return str(found) if found else None

    def add_cover_file(self, job_id: str, file_id: str, now: datetime) -> None:
        """Remember an uploaded cover (the first upload of a job stays the one)."""
        with self.begin() as conn:
            self.insert_ignore(conn, slack_covers,
                               {"job_id": job_id, "file_id": file_id, "uploaded_at": now})

    # -- claims and the audit log (docs/oncall.md) ----------------------------------------

    def claim(self, key: str, user_id: str, now: datetime, *, stale: timedelta) -> str | None:
        """Claim the action ``key`` (``cancel:JOB``) for ``user_id``: None when it is
        theirs now, else who holds it. A claim older than ``stale`` (its holder's request
        died) is taken over."""
        with self.begin() as conn:
            if self.insert_ignore(conn, action_claims,
                                  {"key": key, "user_id": user_id, "claimed_at": now}):
                return None
            taken = conn.execute(action_claims.update().where(
                action_claims.c.key == key, action_claims.c.claimed_at < now - stale,
            ).values(user_id=user_id, claimed_at=now)).rowcount
            if taken:
                return None
            return str(conn.execute(sa.select(action_claims.c.user_id).where(
                action_claims.c.key == key)).scalar_one())

    def release(self, key: str, user_id: str) -> None:
        """Give up a claim (the action failed and may be tried again)."""
        with self.begin() as conn:
            conn.execute(action_claims.delete().where(action_claims.c.key == key,
                                                      action_claims.c.user_id == user_id))

    def record_action(self, *, at: datetime, user_id: str, channel: str, action: str,
                      target: str, result: str) -> None:
        with self.begin() as conn:
            conn.execute(audit_log.insert().values(
                at=at, user_id=user_id, channel=channel, action=action,
                target=target[:128], result=result[:1000]))

    def actions(self, since: datetime | None, until: datetime | None, *,
                limit: int = 200) -> list[AuditEntry]:
        """Recorded actions in ``[since, until)``, newest first."""
        query = audit_log.select()
        if since is not None:
            query = query.where(audit_log.c.at >= since)
        if until is not None:
            query = query.where(audit_log.c.at < until)
        with self.begin() as conn:
            rows = conn.execute(query.order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
                                .limit(limit))
            return [AuditEntry(**{k: v for k, v in row._mapping.items() if k != "id"})
                    for row in rows]
