"""Retention: what the database no longer needs is deleted, so it stops growing.

Pruned once older than the retention period (``RETENTION_DAYS``):

- sent outbox rows (pending and failed rows stay: they are still to do, or shown by
  ``tracked``);
- closed tracked jobs, once every job of their tracking message is closed (the message
  is re-rendered from all of them until then);
- seen outcomes (a job's end is re-read only within minutes of it: the discovery
  overlap, a callback's 5 minutes; docs/polling.md says why that keeps exactly-once);
- accepted callback signatures older than a callback may be (replays of older ones are
  refused as stale);
- Slack event ids older than Slack's retries of an event come (``EVENT_KEEP``).
- workflow step executions (``step_runs``): a step's token is dead 15 minutes after it
  started, so by then nothing of it is left to do.

Deletes run in batches, each its own short transaction, so a large backlog never holds
a long lock. Every query here uses an index (revision 0004).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from .database import Store
from .tables import (
    callback_receipts,
    event_receipts,
    outbox,
    seen_outcomes,
    step_runs,
    tracked_jobs,
)

log = logging.getLogger(__name__)

#: Rows deleted per transaction.
BATCH = 5_000
#: A callback's time stamp may be this old (tracking/polling/callbacks.py); receipts
#: older are useless.
RECEIPT_KEEP = timedelta(minutes=10)
#: Slack retries an event it thinks failed three times: at once, after a minute and
#: after five (https://api.slack.com/apis/events-api#retries); ids are kept past the
#: last retry, with room to spare.
EVENT_KEEP = timedelta(minutes=10)


@dataclass
class Pruned:
    outbox: int = 0
    tracked: int = 0
    seen: int = 0
    receipts: int = 0
    #: Slack event ids (not counted in ``total``: they are the front's, not tracking's).
    events: int = 0
    steps: int = 0

    @property
    def total(self) -> int:
        return self.outbox + self.tracked + self.seen + self.receipts + self.steps


def prune(store: Store, *, now: datetime, retention: timedelta, batch: int = BATCH) -> Pruned:
    """Delete what is older than ``retention`` (see the module docstring)."""
    cut = now - retention
    done = Pruned()
    # Digest members and their digest share sent_at: members first (they point at it).
    sent = sa.and_(outbox.c.status == "sent", outbox.c.sent_at < cut)
    done.outbox += _in_batches(store, outbox, outbox.c.id, sa.and_(
        sent, outbox.c.digest_id.is_not(None)), batch)
    still_referenced = sa.select(outbox.c.digest_id).where(outbox.c.digest_id.is_not(None))
    done.outbox += _in_batches(store, outbox, outbox.c.id, sa.and_(
        sent, outbox.c.id.not_in(still_referenced)), batch)
    other = tracked_jobs.alias("other")
    open_sibling = sa.exists().where(
        other.c.channel == tracked_jobs.c.channel,
        other.c.message_ts == tracked_jobs.c.message_ts,
        sa.or_(other.c.closed.is_(False), other.c.closed_at >= cut,
               sa.and_(other.c.closed_at.is_(None), other.c.created_at >= cut)),
    )
    old_closed = sa.and_(
        tracked_jobs.c.closed.is_(True),
        sa.or_(tracked_jobs.c.closed_at < cut,
               sa.and_(tracked_jobs.c.closed_at.is_(None), tracked_jobs.c.created_at < cut)),
        ~open_sibling,
    )
    done.tracked += _in_batches(store, tracked_jobs, tracked_jobs.c.id, old_closed, batch)
    with store.begin() as conn:
        done.seen += conn.execute(seen_outcomes.delete().where(
            seen_outcomes.c.seen_at < cut)).rowcount
        done.receipts += conn.execute(callback_receipts.delete().where(
            callback_receipts.c.received_at < now - RECEIPT_KEEP)).rowcount
        done.events += conn.execute(event_receipts.delete().where(
            event_receipts.c.received_at < now - EVENT_KEEP)).rowcount
        done.steps += conn.execute(step_runs.delete().where(
            step_runs.c.started_at < cut)).rowcount
    if done.total:
        log.info("retention: pruned %d outbox, %d tracked, %d seen, %d callback rows%s",
                 done.outbox, done.tracked, done.seen, done.receipts,
                 f", {done.steps} step runs" if done.steps else "")
    if done.events:
        log.info("retention: pruned %d Slack event ids", done.events)
    return done


def _in_batches(
    store: Store, table: sa.Table, key: sa.ColumnElement[int], where: sa.ColumnElement[bool],
    batch: int,
) -> int:
    deleted = 0
    while True:
        with store.begin() as conn:
            ids = list(conn.execute(sa.select(key).where(where).limit(batch)).scalars())
            if not ids:
                return deleted
            deleted += conn.execute(table.delete().where(key.in_(ids))).rowcount
        if len(ids) < batch:
            return deleted
