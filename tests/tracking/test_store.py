"""The store: migrations keep data, unique keys hold on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from bot.tracking.models import subscriptions, tracked_jobs
from bot.tracking.outbox import Outbox, track_key
from bot.tracking.store import MIGRATIONS, Store
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


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from bot.tracking.store import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(config).get_current_head())
