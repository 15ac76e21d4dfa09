"""Slack's size limits, a token Slack refuses, and a database that fails mid-send, each
driven by hand against the fake Slack (docs/delivery.md)."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from bot.tracking.service import NOT_SAVED
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import CrashAfter, ctx, track, tracking_message

LONG_ASSET = "campaign-2026-spring-" + "long-descriptive-asset-name-" * 8
LONG_ERROR = "Render failed: the uploaded audio track " + "is longer than the script allows " * 8


def _burst_of_long_failures(world: TrackingWorld, n: int = 30) -> list[str]:
    ids = [world.running(asset_name=LONG_ASSET) for _ in range(n)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "FAILED", error_code="MSS.00000004", error_msg=LONG_ERROR)
    return ids


def _told(world: TrackingWorld, ids: list[str]) -> Counter[str]:
    told: Counter[str] = Counter({job: 0 for job in ids})
    for message in world.slack.posts():
        if message.metadata:
            for job in ids:
                told[job] += job in message.text + str(message.blocks)
    return told


# -- size --------------------------------------------------------------------------------


def test_digest_details_are_packed_under_slacks_character_limit(world: TrackingWorld) -> None:
    ids = _burst_of_long_failures(world)
    for _ in range(3):
        world.cycle()
        world.clock.advance(10)
    assert set(_told(world, ids).values()) == {1}
    calls = world.slack.calls_to("chat.postMessage")
    assert len(calls) == len(world.slack.posts())  # Slack refused nothing
    thread = world.slack.thread("C1", tracking_message(world).ts)
    [digest] = [m for m in thread if "jobs finished" in m.text]  # in the tracking thread
    details = [m for m in thread if m.text.startswith("Details of")]
    assert len(details) >= 2  # 30 jobs, ~15,000 characters
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}


def test_a_message_slack_refuses_for_size_is_split_and_sent_in_parts(
    world: TrackingWorld,
) -> None:
    world.slack.block_text_limit = 2_500  # Slack stricter than the sender's packing
    ids = _burst_of_long_failures(world)
    for _ in range(15):  # each refusal costs its place in the channel's pace
        world.cycle()
        world.clock.advance(10)
    assert set(_told(world, ids).values()) == {1}
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    markers = [m.metadata["event_payload"]["key"] for m in world.slack.posts() if m.metadata]
    assert any("/" in key for key in markers)  # parts carry markers of their own
    assert len(markers) == len(set(markers))


def test_one_block_too_long_for_slack_is_sent_as_text_parts(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 400  # even one job's section is refused
    job = world.running(asset_name=LONG_ASSET)
    track(world, job)
    world.sim.set_state(job, "FAILED", error_code="MSS.00000004", error_msg=LONG_ERROR)
    world.cycle()
    replies = world.slack.thread("C1", tracking_message(world).ts)
    assert replies and all(r.blocks is None for r in replies)
    assert "MSS.00000004" in "".join(r.text for r in replies)
    assert sum(r.reply_broadcast for r in replies) == 1  # broadcast once, not per part
    [row] = world.tracking.outbox.rows()
    assert row.status == "sent" and row.posted_ts == replies[0].ts


def test_a_crash_between_parts_leaves_each_part_once(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 2_500
    ids = _burst_of_long_failures(world, 12)
    world.tracking.poller.poll()
    crashing = build_tracking(world.settings, world.client, CrashAfter(world.messenger, 3),
                              clock=world.clock, sleep=world.clock.sleep)
    with pytest.raises(SystemExit):
        crashing.sender.send_due()
    crashing.store.close()
    world.clock.advance(120)  # the dead sender's lease runs out
    for _ in range(3):
        world.cycle()
        world.clock.advance(10)
    assert set(_told(world, ids).values()) == {1}
    markers = [m.metadata["event_payload"]["key"] for m in world.slack.posts() if m.metadata]
    assert len(markers) == len(set(markers))


# -- a token Slack refuses ------------------------------------------------------------------


def test_a_revoked_token_pauses_everything_and_resumes_when_it_works(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    jobs = [world.running() for _ in range(3)]
    track(world, *jobs[:2])
    track(world, jobs[2], channel="C2")
    world.slack.token_error = "token_revoked"
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()

    rows = world.tracking.outbox.rows()
    assert {(r.status, r.attempts, r.failures) for r in rows} == {("pending", 0, 0)}
    assert world.tracking.outbox.workspace_pause() == ("token_revoked", world.clock())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "SLACK_BOT_TOKEN" in errors[0].getMessage()

    posts, probes = len(world.slack.calls_to("chat.postMessage")), []
    for _ in range(40):  # two hours, a cycle every three minutes
        before = len(world.slack.calls_to("auth.test"))
        world.clock.advance(180)
        world.cycle()
        if len(world.slack.calls_to("auth.test")) > before:
            probes.append(world.clock().timestamp())
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert max(gaps) <= 360  # capped (5 min, checked every 3 min)
    assert len(world.slack.calls_to("chat.postMessage")) == posts  # nothing tried meanwhile
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert 8 <= len(errors) <= 10  # again every 15 minutes, not every cycle

    world.slack.token_error = None
    world.clock.advance(300)
    world.cycle()
    assert set(_told(world, jobs).values()) == {1}
    assert world.tracking.outbox.workspace_pause() is None
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}


def test_a_pause_seen_by_another_process_is_honoured_and_checked_at_once(
    world: TrackingWorld,
) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.tracking.outbox.pause_workspace("invalid_auth", now=world.clock())
    world.slack.token_error = "invalid_auth"
    world.cycle()
    assert len(world.slack.calls_to("auth.test")) == 1  # probed at once, still refused
    assert world.slack.thread("C1", tracking_message(world).ts) == []
    world.slack.token_error = None
    world.clock.advance(5)
    world.cycle()
    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 1


# -- the database failing mid-send ---------------------------------------------------------


def test_a_database_error_mid_send_gives_the_rest_back_at_once(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100, delivery_channel_rate=1000)
    jobs = [world.running() for _ in range(4)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    outbox = world.tracking.outbox
    real, calls = outbox.mark_sent, []

    def flaky(*args: Any, **kw: Any) -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))
        return real(*args, **kw)

    outbox.mark_sent = flaky  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        world.cycle()
    leased = [r for r in outbox.rows() if r.lease_owner is not None]
    assert leased == []  # nothing waits for the lease to run out

    world.clock.advance(1)  # the channel's pace, far less than the 60 s lease
    world.cycle()
    assert set(_told(world, jobs).values()) == {1}
    assert {r.status for r in outbox.rows()} == {"sent"}


def test_a_track_the_database_cannot_save_leaves_no_orphan_message(
    world: TrackingWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any, **kw: Any) -> list[str]:
        raise OperationalError("INSERT INTO tracked_jobs", {}, Exception("database is down"))

    monkeypatch.setattr(world.tracking.store, "add_tracked", down)
    job = world.running()
    reply = track(world, job)
    assert "couldn't save" in reply.text
    [message] = world.slack.posts("C1")
    assert message.text == NOT_SAVED and not message.blocks  # says so, not "Tracking 1 job"
    assert world.tracking.service.tracked(ctx()).text.startswith("This channel tracks no")


def test_the_backoff_is_capped_and_jittered(world: TrackingWorld) -> None:
    sender = world.tracking.sender
    sender.rng = lambda: 0.999
    assert sender.backoff_delay(1) < timedelta(seconds=5.01)
    assert sender.backoff_delay(100) <= sender.policy.max_backoff
    sender.rng = lambda: 0.0
    assert sender.backoff_delay(100) == sender.policy.max_backoff / 2
