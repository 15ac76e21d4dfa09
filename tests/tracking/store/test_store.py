"""The store: migrations keep data, unique keys hold on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from bot.tracking.delivery.outbox import Outbox, track_key
from bot.tracking.polling.watermark import DISCOVERY, PollState
from bot.tracking.store.database import MIGRATIONS, Store
from bot.tracking.store.retention import prune
from bot.tracking.store.tables import callback_receipts, outbox, subscriptions, tracked_jobs
from tests.fixtures.tracking import T0


def test_upgrading_a_v1_database_keeps_its_rows(database_url: str) -> None:
    old = Store(database_url)
    old.migrate_to("0001")
    with old.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO tracked_jobs (channel, job_id, message_ts, requested_by, last_state,"
            " created_at, closed) VALUES ('C1', 'job-1', '1.1', 'U1', 'WAITING', :t, false)"
        ), {"t": T0.replace(tzinfo=None)})
        conn.execute(sa.text(
            "INSERT INTO subscriptions (channel, outcome, created_by, created_at)"
            " VALUES ('C1', 'failed', 'U1', :t)"), {"t": T0.replace(tzinfo=None)})
    old.close()

    store = Store(database_url)
    store.migrate()
    store.migrate()  # idempotent at head

    [job] = store.channel_tracked("C1")
    assert (job.job_id, job.message_ts, job.last_state, job.created_at) == (
        "job-1", "1.1", "WAITING", T0)
    [sub] = store.channel_subscriptions("C1")
    assert sub.outcome == "failed" and sub.swept_at is None  # the 0002 column, empty
    with store.begin() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert version == ScriptDirectory.from_config(config).get_current_head()
    store.close()


def test_tracking_a_job_twice_in_a_channel_keeps_one_row(store: Store) -> None:
    first = store.add_tracked("C1", [("job-1", "WAITING", T0)], message_ts="1.1",
                              requested_by="U1", now=T0)
    second = store.add_tracked("C1", [("job-1", "WAITING", T0), ("job-2", None, None)],
                               message_ts="2.2", requested_by="U2", now=T0)
    assert (first, second) == (["job-1"], ["job-2"])
    assert [j.message_ts for j in store.channel_tracked("C1")] == ["1.1", "2.2"]


def test_an_outbox_key_is_enqueued_once(store: Store) -> None:
    outbox = Outbox(store)
    key = track_key("C1", "job-1", "SUCCEED")
    with store.begin() as conn:
        assert outbox.enqueue(conn, kind="track", channel="C1", dedupe_key=key,
                              payload={"n": 1}, now=T0)
    with store.begin() as conn:
        assert not outbox.enqueue(conn, kind="track", channel="C1", dedupe_key=key,
                                  payload={"n": 2}, now=T0)
    assert [r.payload for r in outbox.rows()] == [{"n": 1}]


def test_pausing_a_channel_pauses_its_jobs_and_subscriptions(store: Store) -> None:
    store.add_tracked("C1", [("job-1", "WAITING", T0)], message_ts="1.1",
                      requested_by="U1", now=T0)
    store.add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                           script_id=None, created_by="U1", now=T0)
    Outbox(store).pause_channel("C1", "not_in_channel")
    assert store.pollable() == [] and store.active_subscriptions() == []
    with store.begin() as conn:
        reasons = {row[0] for table in (tracked_jobs, subscriptions)
                   for row in conn.execute(sa.select(table.c.paused_reason))}
    assert reasons == {"not_in_channel"}
    store.resume_channel("C1")
    assert len(store.pollable()) == 1


def _enqueue(store: Store, key: str, at: datetime) -> None:
    with store.begin() as conn:
        Outbox(store).enqueue(conn, kind="sub", channel="C1", dedupe_key=key,
                              payload={}, now=at)


def test_retention_prunes_what_exactly_once_no_longer_needs(store: Store) -> None:
    week = timedelta(days=7)
    old, recent = T0 - week - timedelta(hours=1), T0 - timedelta(hours=1)
    for key, at, status in (("old-sent", old, "sent"), ("new-sent", recent, "sent"),
                            ("old-pending", old, "pending"), ("old-failed", old, "failed")):
        _enqueue(store, key, at)
        with store.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.dedupe_key == key).values(
                status=status, sent_at=at if status == "sent" else None))
    # One message: both jobs closed long ago. Another: one job still running.
    store.add_tracked("C1", [("a", "WAITING", old), ("b", "WAITING", old)],
                      message_ts="1.1", requested_by="U1", now=old)
    store.add_tracked("C1", [("c", "WAITING", old), ("d", "WAITING", old)],
                      message_ts="2.2", requested_by="U1", now=old)
    sub, _ = store.add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=old)
    open_rows = store.pollable()
    with store.begin() as conn:
        for row in open_rows:
            if row.job_id != "d":
                store.finish_tracked(conn, row.id, "SUCCEED", old)
        store.mark_seen(conn, sub.id, "x", "FAILED", old)
        store.mark_seen(conn, sub.id, "y", "FAILED", recent)
        conn.execute(callback_receipts.insert().values(secret="s1", received_at=old))

    pruned = prune(store, now=T0, retention=week, batch=1)

    assert (pruned.outbox, pruned.tracked, pruned.seen, pruned.receipts) == (1, 2, 1, 1)
    assert sorted(r.dedupe_key for r in Outbox(store).rows()) == [
        "new-sent", "old-failed", "old-pending"]
    assert [j.job_id for j in store.in_message("C1", "2.2")] == ["c", "d"]  # still shown
    assert store.in_message("C1", "1.1") == []
    assert store.seen([sub.id], ["x", "y"]) == {(sub.id, "y", "FAILED")}


def test_retention_deletes_a_digest_with_its_members(store: Store) -> None:
    old = T0 - timedelta(days=8)
    for key in ("m1", "m2"):
        _enqueue(store, key, old)
    ob = Outbox(store)
    members = ob.claim("me", now=old, lease=timedelta(minutes=1))
    digest = ob.form_digest("me", members, now=old, lease=timedelta(minutes=1))
    assert digest is not None and ob.mark_sent(digest, "me", "1.1", now=old)

    assert prune(store, now=T0, retention=timedelta(days=7)).outbox == 3
    assert ob.rows() == []


def test_a_watermark_only_moves_forward(store: Store) -> None:
    state = PollState(store)
    assert state.get(DISCOVERY) is None
    state.advance(DISCOVERY, T0)
    state.advance(DISCOVERY, T0 - timedelta(minutes=5))  # a slower poller
    assert state.get(DISCOVERY) == T0
    state.advance(DISCOVERY, T0 + timedelta(seconds=1))
    assert state.get(DISCOVERY) == T0 + timedelta(seconds=1)


def test_another_channel_cannot_unsubscribe_or_forget_what_a_subscription_saw(
    store: Store,
) -> None:
    sub, _ = store.add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=T0)
    with store.begin() as conn:
        store.mark_seen(conn, sub.id, "job-1", "FAILED", T0)
    assert not store.remove_subscription("C2", sub.id)
    assert store.seen([sub.id], ["job-1"]) == {(sub.id, "job-1", "FAILED")}
    assert store.remove_subscription("C1", sub.id)
    assert store.seen([sub.id], ["job-1"]) == set()


# -- Slack event ids (revision 0007) --------------------------------------------------

def test_upgrading_from_0006_adds_the_event_receipts(database_url: str) -> None:
    store = Store(database_url)
    store.migrate_to("0006")
    assert "event_receipts" not in sa.inspect(store.engine).get_table_names()

    store.migrate()

    assert "event_receipts" in sa.inspect(store.engine).get_table_names()
    assert store.first_event("Ev0PV52K21", T0)
    store.close()


def test_an_event_id_is_first_once(store: Store) -> None:
    assert store.first_event("Ev0PV52K21", T0)
    assert not store.first_event("Ev0PV52K21", T0 + timedelta(minutes=1))  # Slack's retry
    assert store.first_event("Ev0PV52K22", T0)


def test_processes_racing_on_one_event_id_let_exactly_one_through(database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    Store(database_url).migrate()
    stores = [Store(database_url) for _ in range(8)]  # each its own engine, as a process's
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            firsts = list(pool.map(lambda s: s.first_event("Ev0RACE", T0), stores))
    finally:
        for each in stores:
            each.close()
    assert sorted(firsts) == [False] * 7 + [True]


def test_retention_prunes_event_ids_once_slack_has_stopped_retrying(store: Store) -> None:
    from bot.tracking.store.retention import EVENT_KEEP

    store.first_event("EvOLD", T0 - EVENT_KEEP - timedelta(seconds=1))
    store.first_event("EvRECENT", T0 - timedelta(minutes=6))  # Slack's last retry is due

    pruned = prune(store, now=T0, retention=timedelta(days=7))

    assert pruned.events == 1
    assert not store.first_event("EvRECENT", T0)
    assert store.first_event("EvOLD", T0)
    assert timedelta(minutes=6) <= EVENT_KEEP  # at once, 1 min, 5 min later: all covered
