"""The on-call tables (bot/tracking/delivery/oncall.py) on SQLite and PostgreSQL: watchers
and the DM rows they get, mentions per subscription, mutes and when they are over, the
broadcast setting and one broadcast per burst, and every query's channel, job and
subscription filter."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.domain.records import ChannelNoise
from bot.metastudio.models import Job
from bot.tracking.delivery.oncall import (
    BURST,
    DIRECT,
    OnCallStore,
    broadcast_failures,
    channel_groups,
    channel_noise,
    direct_key,
    enqueue_direct_messages,
)
from bot.tracking.delivery.outbox import Outbox
from bot.tracking.store.database import Store
from bot.tracking.store.tables import channel_settings, job_mutes, job_watchers
from tests.fixtures.tracking import T0
from tests.tracking import fast_store

# SQLite stores copied from one migrated database (see tests/tracking/fast_store.py).
migrated_sqlite, store = fast_store.migrated_sqlite, fast_store.store

HOUR = timedelta(hours=1)


def _job(job_id: str, state: str) -> Job:
    # Times too: a payload must be JSON (a datetime left as one would not store).
    return Job.model_validate({"job_id": job_id, "state": state,
                               "create_time": "2025-03-01T08:00:00Z",
                               "end_time": "2025-03-01T09:00:00Z"})


def _sub_id(store: Store, channel: str = "C1", outcome: str = "failed") -> int:
    sub, _ = store.add_subscription(channel, outcome=outcome, job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=T0)
    return sub.id


def test_a_direct_key_names_user_job_and_state() -> None:
    assert direct_key("U1", "j1", "FAILED") == "dm:U1:j1:FAILED"


def test_watchers_get_one_dm_each_and_are_forgotten(store: Store, outbox: Outbox) -> None:
    calls = OnCallStore(store)
    assert calls.add_watcher("j1", "U1", T0)
    assert not calls.add_watcher("j1", "U1", T0)
    assert calls.add_watcher("j1", "U2", T0)
    assert calls.add_watcher("j2", "U3", T0)
    job = _job("j1", "FAILED")
    with store.begin() as conn:
        assert enqueue_direct_messages(outbox, conn, job, T0) == 2
    rows = sorted(outbox.rows(), key=lambda r: r.channel)
    assert [(r.kind, r.channel, r.dedupe_key) for r in rows] == [
        (DIRECT, "U1", "dm:U1:j1:FAILED"), (DIRECT, "U2", "dm:U2:j1:FAILED")]
    assert rows[0].payload == {"job": job.model_dump(mode="json"), "requested_by": "U1",
                               "direct": True}
    assert rows[0].payload["job"]["end_time"].startswith("2025-03-01T09:00:00")
    with store.begin() as conn:
        left = list(conn.execute(sa.select(job_watchers.c.job_id, job_watchers.c.user_id,
                                           job_watchers.c.created_at)))
        assert enqueue_direct_messages(outbox, conn, job, T0) == 0
    assert [tuple(r) for r in left] == [("j2", "U3", T0)]
    assert len(outbox.rows()) == 2


def test_a_job_without_watchers_queues_nothing(store: Store, outbox: Outbox) -> None:
    OnCallStore(store).add_watcher("j2", "U3", T0)
    with store.begin() as conn:
        assert enqueue_direct_messages(outbox, conn, _job("j1", "SUCCEED"), T0) == 0
    assert outbox.rows() == []


def test_the_tracking_message_of_a_job_in_a_channel(store: Store) -> None:
    store.add_tracked("C1", [("j1", None, None)], message_ts="1.1", requested_by="U1", now=T0)
    store.add_tracked("C2", [("j2", None, None)], message_ts="2.2", requested_by="U1", now=T0)
    calls = OnCallStore(store)
    assert calls.tracking_ts("C1", "j1") == "1.1"
    assert calls.tracking_ts("C2", "j1") is None
    assert calls.tracking_ts("C1", "j2") is None


def test_mentions_are_per_subscription_and_replaced(store: Store) -> None:
    calls = OnCallStore(store)
    a, b, c = _sub_id(store, outcome="failed"), _sub_id(store, outcome="all"), _sub_id(
        store, outcome="finished")
    calls.set_mention(a, "S1")
    calls.set_mention(b, "S2")
    assert calls.mentions([a, b, c]) == {a: "S1", b: "S2"}
    assert calls.mentions([a]) == {a: "S1"}
    assert calls.mentions([]) == {}
    calls.set_mention(a, "S3")
    assert calls.mentions([a, b]) == {a: "S3", b: "S2"}
    calls.set_mention(a, None)
    assert calls.mentions([a, b]) == {b: "S2"}
    calls.set_mention(b, "")
    assert calls.mentions([a, b]) == {}


def test_noise_settings_of_one_channel_now(store: Store) -> None:
    calls = OnCallStore(store)
    assert calls.noise("C1", T0) == ChannelNoise(None, None, {})
    calls.set_broadcast("C1", False)
    calls.mute("C1", None, T0 + HOUR)
    calls.mute("C1", "j1", T0 + 2 * HOUR)
    calls.mute("C1", "j2", T0 + HOUR)
    calls.mute("C2", "j3", T0 + HOUR)
    assert calls.noise("C1", T0) == ChannelNoise(False, T0 + HOUR,
                                                 {"j1": T0 + 2 * HOUR, "j2": T0 + HOUR})
    # A mute ends at its time: at that instant it is over.
    assert calls.noise("C1", T0 + HOUR) == ChannelNoise(False, None, {"j1": T0 + 2 * HOUR})
    assert calls.noise("C2", T0) == ChannelNoise(None, None, {"j3": T0 + HOUR})
    calls.set_broadcast("C1", True)
    assert calls.noise("C1", T0).broadcast_failures is True
    calls.set_broadcast("C1", None)
    assert calls.noise("C1", T0) == ChannelNoise(None, T0 + HOUR,
                                                 {"j1": T0 + 2 * HOUR, "j2": T0 + HOUR})


def test_muting_a_job_again_moves_its_end(store: Store) -> None:
    calls = OnCallStore(store)
    calls.mute("C1", "j1", T0 + HOUR)
    calls.mute("C2", "j1", T0 + HOUR)
    calls.mute("C1", "j2", T0 + HOUR)
    calls.mute("C1", "j1", T0 + 3 * HOUR)
    with store.begin() as conn:
        rows = {tuple(r) for r in conn.execute(sa.select(job_mutes))}
    assert rows == {("C1", "j1", T0 + 3 * HOUR), ("C2", "j1", T0 + HOUR),
                    ("C1", "j2", T0 + HOUR)}
    calls.mute("C1", None, T0 + HOUR)
    calls.mute("C1", None, T0 + 2 * HOUR)
    assert calls.noise("C1", T0).muted_until == T0 + 2 * HOUR


def test_unmute_lifts_the_channels_mutes_only(store: Store) -> None:
    calls = OnCallStore(store)
    calls.set_broadcast("C1", True)
    assert not calls.unmute("C1")  # settings but no mute
    calls.mute("C1", "j1", T0 + HOUR)
    calls.mute("C2", "j1", T0 + HOUR)
    calls.mute("C2", None, T0 + HOUR)
    assert calls.unmute("C1")
    assert calls.noise("C1", T0) == ChannelNoise(True, None, {})
    assert calls.noise("C2", T0) == ChannelNoise(None, T0 + HOUR, {"j1": T0 + HOUR})
    assert not calls.unmute("C1")
    calls.mute("C1", None, T0 + HOUR)
    assert calls.unmute("C1")  # the channel-wide mute alone
    assert calls.noise("C1", T0).muted_until is None


def test_broadcast_follows_the_channel_setting_else_the_default(store: Store) -> None:
    calls = OnCallStore(store)
    assert broadcast_failures(store, "C1", default=True)
    assert not broadcast_failures(store, "C1", default=False)
    calls.set_broadcast("C1", False)
    assert not broadcast_failures(store, "C1", default=True)
    assert not broadcast_failures(store, "C1", default=True, now=T0)
    calls.set_broadcast("C2", True)
    assert broadcast_failures(store, "C2", default=False)
    assert broadcast_failures(store, "C3", default=True)  # C1's setting is C1's


def test_one_broadcast_per_burst_per_channel(store: Store) -> None:
    assert broadcast_failures(store, "C1", default=True, now=T0)  # first: a new row
    assert not broadcast_failures(store, "C1", default=True, now=T0 + timedelta(minutes=1))
    assert broadcast_failures(store, "C2", default=True, now=T0 + timedelta(minutes=1))
    assert not broadcast_failures(store, "C1", default=True, now=T0 + BURST - timedelta(seconds=1))
    assert broadcast_failures(store, "C1", default=True, now=T0 + BURST)  # exactly over
    with store.begin() as conn:
        moments = dict(conn.execute(sa.select(channel_settings.c.channel,
                                              channel_settings.c.last_broadcast_at)).all())
    assert moments == {"C1": T0 + BURST, "C2": T0 + timedelta(minutes=1)}
    # Without a time no burst is recorded or checked.
    assert broadcast_failures(store, "C1", default=True)
    # A channel whose settings row exists without a broadcast yet (settings broadcast=on).
    OnCallStore(store).set_broadcast("C3", True)
    assert broadcast_failures(store, "C3", default=False, now=T0)
    assert not broadcast_failures(store, "C3", default=False, now=T0 + timedelta(minutes=1))
    # Later, every channel's burst is over; C1's broadcast claims C1's row alone.
    assert broadcast_failures(store, "C1", default=True, now=T0 + 3 * BURST)
    with store.begin() as conn:
        moments = dict(conn.execute(sa.select(channel_settings.c.channel,
                                              channel_settings.c.last_broadcast_at)).all())
    assert moments == {"C1": T0 + 3 * BURST, "C2": T0 + timedelta(minutes=1), "C3": T0}


def test_channel_groups(store: Store) -> None:
    calls = OnCallStore(store)
    a, b = _sub_id(store, outcome="failed"), _sub_id(store, outcome="all")
    calls.set_mention(a, "S1")
    with store.begin() as conn:
        assert channel_groups(conn, [a], "C1", _job("j1", "FAILED"), T0) == ["S1"]
        assert channel_groups(conn, [a], "C1", _job("j1", "BLOCK"), T0) == ["S1"]
        assert channel_groups(conn, [a], "C1", _job("j1", "SUCCEED"), T0) == []
        assert channel_groups(conn, [a], "C1", _job("j1", "CANCELED"), T0) == []
        assert channel_groups(conn, [b], "C1", _job("j1", "FAILED"), T0) == []
        assert channel_groups(conn, [], "C1", _job("j1", "FAILED"), T0) == []
    calls.set_mention(b, "S0")
    with store.begin() as conn:  # the union of every matching subscription's, sorted
        assert channel_groups(conn, [a, b], "C1", _job("j1", "FAILED"), T0) == ["S0", "S1"]
    calls.set_mention(b, "S1")
    with store.begin() as conn:  # each group once
        assert channel_groups(conn, [a, b], "C1", _job("j1", "FAILED"), T0) == ["S1"]
    calls.mute("C1", "j1", T0 + HOUR)
    with store.begin() as conn:
        assert channel_groups(conn, [a], "C1", _job("j1", "FAILED"), T0) is None
        assert channel_groups(conn, [a], "C1", _job("j2", "FAILED"), T0) == ["S1"]
        assert channel_groups(conn, [a], "C2", _job("j1", "FAILED"), T0) == ["S1"]
    calls.mute("C1", None, T0 + HOUR)
    with store.begin() as conn:
        assert channel_groups(conn, [a], "C1", _job("j2", "SUCCEED"), T0) is None
        assert channel_groups(conn, [a], "C1", _job("j2", "FAILED"), T0 + HOUR) == ["S1"]
        assert channel_noise(conn, "C1", T0).muted_until == T0 + HOUR
