"""The tracking commands as the router calls them."""

from __future__ import annotations

import pytest

from bot.commands.types import Track, Untrack
from bot.metastudio.errors import UnavailableError
from tests.fixtures.tracking import UPSTREAM_DOWN, TrackingWorld
from tests.tracking.helpers import ctx, subscribe, track, tracking_message


def test_track_posts_one_tracking_message_for_its_jobs(world: TrackingWorld) -> None:
    first, second = world.running(), world.sim.add_job(state="WAITING")
    reply = track(world, first, second)
    assert reply.response_type == "ephemeral" and first in reply.text and second in reply.text
    message = tracking_message(world)
    assert "Tracking 2 jobs for <@U1>" in message.text
    assert [j.message_ts for j in world.tracking.store.channel_tracked("C1")] == [message.ts] * 2


def test_track_reports_unknown_finished_and_already_tracked_jobs(world: TrackingWorld) -> None:
    running, ended = world.running(), world.running()
    world.sim.set_state(ended, "FAILED")
    track(world, running)
    reply = track(world, running, ended, "no-such-job")
    assert f"Already tracked here: `{running}`" in reply.text
    assert "Already finished" in reply.text and "MSS.00000004" in reply.text
    assert "No such job: `no-such-job`" in reply.text
    assert len(world.slack.posts("C1")) == 1  # nothing new to track, nothing posted
    assert [j.job_id for j in world.tracking.store.channel_tracked("C1")] == [running]


def test_track_in_a_channel_without_the_bot_says_how_to_invite_it(world: TrackingWorld) -> None:
    job = world.running()
    world.slack.channel_errors["C1"] = "not_in_channel"
    reply = track(world, job)
    assert "/invite @videojobs" in reply.text and "Traceback" not in reply.text
    assert world.tracking.store.channel_tracked("C1") == []
    assert "/invite @videojobs" in subscribe(world).text
    assert world.tracking.store.channel_subscriptions("C1") == []


def test_bad_ids_and_upstream_errors_are_one_line(world: TrackingWorld) -> None:
    assert "not a job id" in track(world, "bad id;").text
    world.sim.faults.fail_next(**UPSTREAM_DOWN)
    # Upstream errors go to the router, which explains them like any command's
    # (tests/commands/test_router.py); nothing is posted or stored meanwhile.
    with pytest.raises(UnavailableError) as raised:
        track(world, "job-1")
    assert raised.value.status == 503
    assert world.slack.posts() == []
    assert world.tracking.store.channel_tracked("C1") == []


def test_untrack_and_tracked(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    assert job in str(world.tracking.service.tracked(ctx()).blocks)
    assert "Stopped tracking" in world.tracking.service.untrack(ctx(), Untrack(job)).text
    assert "not tracking" in world.tracking.service.untrack(ctx(), Untrack(job)).text
    assert "tracks no jobs" in world.tracking.service.tracked(ctx()).text
    world.sim.set_state(job, "SUCCEED")
    world.cycle()
    assert world.slack.thread("C1", tracking_message(world).ts) == []


def test_tracking_again_after_a_pause_resumes_the_channel(world: TrackingWorld) -> None:
    first = world.running()
    track(world, first)
    world.slack.channel_errors["C1"] = "not_in_channel"
    world.sim.set_state(first, "SUCCEED")
    world.cycle()
    assert world.tracking.store.pollable() == []
    del world.slack.channel_errors["C1"]  # someone invited the bot back
    second = world.running()
    track(world, second)
    assert [j.job_id for j in world.tracking.store.pollable()] == [second]


def test_untracking_redraws_the_tracking_message(world: TrackingWorld) -> None:
    """Issue #21, 9: the message stops promising a reply for an untracked job, and with
    none left says it tracks nothing."""
    first, second = world.running(), world.running()
    track(world, first, second)
    world.tracking.service.untrack(ctx(), Untrack(first))
    message = tracking_message(world)
    assert first not in str(message.blocks) and second in str(message.blocks)
    assert message.text.startswith("Tracking 1 job")
    world.tracking.service.untrack(ctx(), Untrack(second))
    assert tracking_message(world).text == "No longer tracking these jobs (untracked by <@U1>)."


def test_a_dm_asked_for_still_comes_after_untrack(world: TrackingWorld) -> None:
    """The person asked for a DM (``notify=me``); untracking the channel's thread does
    not silently drop it: the job is watched until it ends."""
    job = world.running()
    world.tracking.service.track(ctx(), Track((job,), notify_me=True), world.clock())
    answer = world.tracking.service.untrack(ctx(), Untrack(job)).text
    assert "DM asked for" in answer and "still comes" in answer
    world.sim.set_state(job, "FAILED")
    world.cycle()
    [dm] = world.slack.posts("U1")
    assert job in dm.text and dm.text.startswith("You asked me to tell you:")
    assert world.slack.thread("C1", tracking_message(world).ts) == []
