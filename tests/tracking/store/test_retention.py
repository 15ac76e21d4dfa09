"""Retention (bot/tracking/store/retention.py) at its boundaries: rows of exactly the cut
and newer are kept; a tracking message goes only when every job in it closed before the
cut (its channel's, not another's with the same ts); a digest goes after its members,
never while one is kept; deletes come in batches and are logged only when something
went; and the totals add up every kind."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.tracking.delivery.outbox import Outbox
from bot.tracking.store.database import Store
from bot.tracking.store.retention import BATCH, RECEIPT_KEEP, Pruned, prune
from bot.tracking.store.tables import callback_receipts, outbox, seen_outcomes, tracked_jobs
from tests.fixtures.tracking import T0

WEEK = timedelta(days=7)
CUT = T0 - WEEK


def _sent(store: Store, key: str, at: Any, *, status: str = "sent") -> int:
    with store.begin() as conn:
        Outbox(store).enqueue(conn, kind="sub", channel="C1", dedupe_key=key, payload={},
                              now=at)
        conn.execute(outbox.update().where(outbox.c.dedupe_key == key).values(
            status=status, sent_at=at))
        return conn.execute(sa.select(outbox.c.id).where(outbox.c.dedupe_key == key)
                            ).scalar_one()


def _keys(store: Store) -> list[str]:
    return sorted(r.dedupe_key for r in Outbox(store).rows())


def test_retention_keeps_rows_of_exactly_the_cut_and_newer(store: Store) -> None:
    second = timedelta(seconds=1)
    _sent(store, "older", CUT - second)
    _sent(store, "at-cut", CUT)
    _sent(store, "failed-old", CUT - second, status="failed")
    sub, _ = store.add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=CUT - WEEK)
    with store.begin() as conn:
        store.mark_seen(conn, sub.id, "old", "FAILED", CUT - second)
        store.mark_seen(conn, sub.id, "cut", "FAILED", CUT)
        conn.execute(callback_receipts.insert(), [
            {"secret": "old", "received_at": T0 - RECEIPT_KEEP - second},
            {"secret": "cut", "received_at": T0 - RECEIPT_KEEP},
        ])
    pruned = prune(store, now=T0, retention=WEEK)
    assert (pruned.outbox, pruned.tracked, pruned.seen, pruned.receipts) == (1, 0, 1, 1)
    assert _keys(store) == ["at-cut", "failed-old"]
    assert store.seen([sub.id], ["old", "cut"]) == {(sub.id, "cut", "FAILED")}
    with store.begin() as conn:
        assert list(conn.execute(sa.select(callback_receipts.c.secret)).scalars()) == ["cut"]
        assert len(list(conn.execute(sa.select(seen_outcomes)))) == 1


def _tracked(store: Store, message: str, *jobs: tuple[str, Any, Any]) -> None:
    """A tracking message with ``(job_id, created_at, closed_at or "open")`` rows;
    ``closed_at`` None is a closed row from before ``closed_at`` was recorded."""
    for job_id, created, closed in jobs:
        store.add_tracked("C1", [(job_id, "WAITING", created)], message_ts=message,
                          requested_by="U1", now=created)
        if closed != "open":
            with store.begin() as conn:
                conn.execute(tracked_jobs.update().where(tracked_jobs.c.job_id == job_id)
                             .values(closed=True, closed_at=closed, last_state="SUCCEED"))


def _messages(store: Store) -> list[str]:
    with store.begin() as conn:
        return sorted(set(conn.execute(sa.select(tracked_jobs.c.message_ts)).scalars()))


def test_a_tracking_message_is_pruned_when_every_job_closed_before_the_cut(
    store: Store,
) -> None:
    long_ago, second = CUT - WEEK, timedelta(seconds=1)
    _tracked(store, "1.gone", ("a", long_ago, CUT - second), ("b", long_ago, None))
    _tracked(store, "2.closed-at-cut", ("c", long_ago, CUT - second), ("d", long_ago, CUT))
    _tracked(store, "3.open", ("e", long_ago, CUT - second), ("f", long_ago, "open"))
    _tracked(store, "4.legacy-new", ("g", long_ago, CUT - second), ("h", CUT, None))
    _tracked(store, "5.legacy-old", ("i", CUT - second, None))
    _tracked(store, "6.at-cut", ("j", long_ago, CUT))
    _tracked(store, "7.legacy-at-cut", ("k", CUT, None))
    assert prune(store, now=T0, retention=WEEK).tracked == 3  # a, b and i
    assert _messages(store) == ["2.closed-at-cut", "3.open", "4.legacy-new", "6.at-cut",
                                "7.legacy-at-cut"]


def test_a_tracking_message_of_another_channel_with_the_same_ts_does_not_keep_it(
    store: Store,
) -> None:
    long_ago = CUT - WEEK
    store.add_tracked("C1", [("a", "WAITING", long_ago)], message_ts="1.1",
                      requested_by="U1", now=long_ago)
    store.add_tracked("C2", [("b", "WAITING", long_ago)], message_ts="1.1",  # still open
                      requested_by="U1", now=long_ago)
    with store.begin() as conn:
        conn.execute(tracked_jobs.update().where(tracked_jobs.c.job_id == "a").values(
            closed=True, closed_at=long_ago))
    assert prune(store, now=T0, retention=WEEK).tracked == 1
    assert store.in_message("C1", "1.1") == []
    assert [j.job_id for j in store.in_message("C2", "1.1")] == ["b"]


def test_a_digest_goes_after_its_members_and_not_while_one_is_kept(store: Store) -> None:
    ob = Outbox(store)
    old = CUT - timedelta(days=1)
    ids = {key: _sent(store, key, old, status="pending") for key in ("m1", "m2", "m3")}
    with store.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id.in_(list(ids.values()))).values(
            sent_at=None))
    members = ob.claim("me", now=old, lease=timedelta(minutes=1))
    digest = ob.form_digest("me", members, now=old, lease=timedelta(minutes=1))
    assert digest is not None and ob.mark_sent(digest, "me", "1.1", now=old)
    # One member is still kept (sent later): its digest must stay with it.
    with store.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == ids["m3"]).values(sent_at=T0))
    _sent(store, "alone", old)
    pruned = prune(store, now=T0, retention=WEEK, batch=1)
    assert pruned.outbox == 3  # two members and the lone row, not the digest
    assert sorted(r.kind for r in ob.rows()) == ["digest", "sub"]


def test_retention_deletes_in_batches_and_logs_only_when_it_did(
    store: Store, caplog: pytest.LogCaptureFixture,
) -> None:
    for i in range(7):
        _sent(store, f"k{i}", CUT - timedelta(days=1))
    deletes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM OUTBOX"):
            deletes.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    with caplog.at_level(logging.INFO, logger="bot.tracking.store.retention"):
        assert prune(store, now=T0, retention=WEEK, batch=3).outbox == 7
        assert prune(store, now=T0, retention=WEEK, batch=3) == Pruned()
    sa.event.remove(store.engine, "before_cursor_execute", count)
    assert len(deletes) == 3  # 3 + 3 + 1 rows, each batch its own statement
    assert [r.getMessage() for r in caplog.records if r.name == "bot.tracking.store.retention"] == [
        "retention: pruned 7 outbox, 0 tracked, 0 seen, 0 callback rows"]
    for i in range(3):
        _sent(store, f"again{i}", CUT - timedelta(days=1))
    assert prune(store, now=T0, retention=WEEK, batch=3).outbox == 3
    assert BATCH == 5_000 and prune(store, now=T0, retention=WEEK).total == 0


def test_pruned_totals_every_kind() -> None:
    assert Pruned(outbox=1, tracked=20, seen=300, receipts=4000).total == 4321
    assert Pruned().total == 0
