"""On-call: the person who tracked a job hears of its end, a subscription pages its
user group on failures, and a channel can mute subscriptions and stop broadcasts."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.types import ChannelSettings, Mute, Subscribe, Track, Unmute, Unsubscribe
from bot.metastudio.query import QueryJobType
from tests.fixtures.tracking import RENDER_FAILURE, TrackingWorld
from tests.tracking.helpers import ctx, subscribe, track, tracking_message


def _subscribe(world: TrackingWorld, **kw) -> None:
    world.tracking.service.subscribe(ctx(), Subscribe("failed", **kw), world.clock())


def test_a_thread_reply_mentions_who_tracked_the_job(world: TrackingWorld) -> None:
    job = world.running()
    world.tracking.service.track(ctx(user="U7"), Track((job,)), world.clock())
    world.sim.set_state(job, "SUCCEED")
    world.cycle()
    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert reply.text.startswith("<@U7> ")
    assert reply.blocks[0]["text"]["text"].startswith("<@U7> *✅")


def test_notify_me_sends_one_dm_when_the_job_ends(world: TrackingWorld) -> None:
    job = world.running()
    reply = world.tracking.service.track(ctx(user="U7"), Track((job,), notify_me=True),
                                         world.clock())
    assert "DM you" in reply.text
    world.cycle()
    assert world.slack.posts("U7") == []  # still running: no DM yet

    world.sim.set_state(job, "FAILED", **RENDER_FAILURE)
    world.cycle()
    world.cycle()
    [dm] = world.slack.posts("U7")
    assert dm.thread_ts is None and job in dm.text and "MSS.00000004" in dm.text
    assert "You asked me to tell you" in dm.blocks[0]["text"]["text"]
    # The runbook's next step comes with the failure.
    assert "Next step" in dm.blocks[0]["text"]["text"]


def test_notify_me_on_a_job_already_tracked_here_only_adds_the_dm(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    reply = world.tracking.service.track(ctx(user="U8"), Track((job,), notify_me=True),
                                         world.clock())
    assert "Already tracked here" in reply.text and "DM you" in reply.text
    assert len(world.slack.posts("C1")) == 1
    world.sim.set_state(job, "SUCCEED")
    world.cycle()
    assert len(world.slack.posts("U8")) == 1
    assert world.slack.posts("U1") == []  # the tracker asked for no DM


def test_a_subscription_pages_its_user_group_on_failures_only(world: TrackingWorld) -> None:
    world.tracking.service.subscribe(ctx(), Subscribe("all", notify_group="S0ONCALL"),
                                     world.clock())
    listed = world.tracking.service.subscriptions(ctx())
    assert "<!subteam^S0ONCALL>" in str(listed.blocks)
    world.clock.advance(60)
    failed, ok = world.running(), world.running()
    world.sim.set_state(failed, "FAILED", **RENDER_FAILURE)
    world.sim.set_state(ok, "SUCCEED")
    world.cycle()
    [failure] = [m for m in world.slack.posts("C1") if failed in m.text]
    [success] = [m for m in world.slack.posts("C1") if ok in m.text]
    assert failure.text.startswith("<!subteam^S0ONCALL> ")
    assert "subteam" not in success.text and "subteam" not in str(success.blocks)


def test_mute_all_silences_subscriptions_until_unmuted(world: TrackingWorld) -> None:
    _subscribe(world)
    world.clock.advance(60)
    service = world.tracking.service
    assert "Muted all" in service.mute(ctx(), Mute(None, 3600), world.clock()).text
    muted = world.running()
    world.sim.set_state(muted, "FAILED")
    world.cycle()
    assert not any(muted in m.text for m in world.slack.posts("C1"))

    assert "Unmuted" in service.unmute(ctx(), Unmute()).text
    assert "Nothing is muted" in service.unmute(ctx(), Unmute()).text
    heard = world.running()
    world.sim.set_state(heard, "FAILED")
    world.cycle()
    assert any(heard in m.text for m in world.slack.posts("C1"))
    # A job ended while muted is never announced late.
    assert not any(muted in m.text for m in world.slack.posts("C1"))


def test_a_muted_job_expires(world: TrackingWorld) -> None:
    _subscribe(world)
    service = world.tracking.service
    job, other = world.running(), world.running()
    service.mute(ctx(), Mute(job, 600), world.clock())
    assert job in str(service.settings(ctx(), ChannelSettings(), world.clock()).blocks)
    world.clock.advance(60)
    world.sim.set_state(other, "FAILED")
    world.cycle()
    assert any(other in m.text for m in world.slack.posts("C1"))  # only that job is muted
    world.sim.set_state(job, "BLOCK")
    world.cycle()
    assert not any(job in m.text for m in world.slack.posts("C1"))
    world.clock.advance(601)
    assert job not in str(service.settings(ctx(), ChannelSettings(), world.clock()).blocks)
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert any(job in m.text for m in world.slack.posts("C1"))


def test_a_mute_of_everything_ends_by_itself(world: TrackingWorld) -> None:
    _subscribe(world)
    world.tracking.service.mute(ctx(), Mute(None, 3600), world.clock())
    world.clock.advance(3601)
    assert "muted" not in str(world.tracking.service.settings(
        ctx(), ChannelSettings(), world.clock()).blocks)
    job = world.running()
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert any(job in m.text for m in world.slack.posts("C1"))


def test_settings_broadcast_off_overrides_the_global_switch(world: TrackingWorld) -> None:
    service = world.tracking.service
    shown = service.settings(ctx(), ChannelSettings(), world.clock())
    assert "on (the bot's default)" in str(shown.blocks)
    saved = service.settings(ctx(), ChannelSettings("off"), world.clock())
    assert "off (set for this channel)" in str(saved.blocks)
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "FAILED")
    world.cycle()
    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert reply.reply_broadcast is False

    service.settings(ctx(), ChannelSettings("default"), world.clock())
    other = world.running()
    track(world, other)
    world.sim.set_state(other, "FAILED")
    world.clock.advance(2)  # the channel's posting pace (docs/delivery.md)
    world.cycle()
    assert any(m.reply_broadcast for m in world.slack.posts("C1") if other in m.text)


def test_the_tracking_message_head_splits_outcomes_when_all_ended(world: TrackingWorld) -> None:
    ok, bad = world.running(), world.running()
    track(world, ok, bad)
    world.sim.set_state(ok, "SUCCEED")
    world.cycle()
    halfway = world.slack.message("C1", tracking_message(world).ts)
    assert "1 finished, 1 ✅" in halfway.text and "I reply in this thread" in halfway.text
    world.sim.set_state(bad, "FAILED")
    world.clock.advance(2)  # the channel's posting pace (docs/delivery.md)
    world.cycle()
    message = world.slack.message("C1", tracking_message(world).ts)
    assert "all finished, 1 ✅ 1 ❌" in message.text or "all finished, 1 ❌ 1 ✅" in message.text
    assert "I reply in this thread" not in message.text


# -- subscribe stuck --------------------------------------------------------------------


def test_subscribe_stuck_announces_a_job_once_and_again_when_it_ends(world: TrackingWorld) -> None:
    service = world.tracking.service
    reply = service.subscribe(ctx(), Subscribe("stuck", notify_group="S0ONCALL"),
                              world.clock())
    assert "Subscribed: stuck jobs" in reply.text
    assert "stuck, by <@U1>, pages <!subteam^S0ONCALL>" in str(
        service.subscriptions(ctx()).blocks)
    late = world.sim.add_job(state="WAITING", asset_name="Launch teaser",
                             create_time=world.clock() - timedelta(minutes=45))
    world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(minutes=10))
    world.cycle()
    [told] = [m for m in world.slack.posts("C1") if "stuck" in m.text and late in str(m.blocks)]
    assert told.text == "<!subteam^S0ONCALL> 🐢 1 job is stuck"
    assert "waiting 45 min" in str(told.blocks) and "line 30 min" in str(told.blocks)

    def looked_up(since: int) -> bool:
        return any(late in value for r in world.sim.requests[since:]
                   for key, value in r.params if key in ("job_ids", "job_id"))

    world.clock.advance(600)  # past the check interval: the job is stuck still, not news
    before = len(world.sim.requests)
    world.cycle()
    assert len([m for m in world.slack.posts("C1") if late in str(m.blocks)]) == 1
    assert not looked_up(before)  # still among the unfinished: no look-up by id

    world.sim.set_state(late, "CANCELED")
    world.clock.advance(600)
    world.cycle()
    [end] = [m for m in world.slack.posts("C1") if late in m.text]
    assert "was canceled" in end.text and "was stuck" in end.text
    world.clock.advance(600)
    before = len(world.sim.requests)
    world.cycle()
    assert len([m for m in world.slack.posts("C1") if late in m.text]) == 1
    assert not looked_up(before)  # its end was told: never looked at again


def test_subscribe_stuck_by_type_and_unsubscribe(world: TrackingWorld) -> None:
    service = world.tracking.service
    service.subscribe(ctx(), Subscribe("stuck", job_type=QueryJobType.PHOTO), world.clock())
    world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(hours=2))
    photo = world.sim.add_job(state="WAITING", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                              create_time=world.clock() - timedelta(hours=2))
    world.cycle()
    [told] = [m for m in world.slack.posts("C1") if "is stuck" in m.text]
    assert photo in str(told.blocks) and told.text == "🐢 1 job is stuck"  # the 2D one is not
    assert "Unsubscribed from stuck" in service.unsubscribe(ctx(), Unsubscribe(stuck=True)).text
    assert "not subscribed" in service.unsubscribe(ctx(), Unsubscribe(stuck=True)).text


def test_the_stuck_check_waits_between_reads(world: TrackingWorld) -> None:
    world.tracking.service.subscribe(ctx(), Subscribe("stuck"), world.clock())
    world.cycle()
    before = len(world.sim.requests)
    world.clock.advance(60)
    world.tracking.stuck.run_once()
    assert len(world.sim.requests) == before  # within 5 minutes of the last check


def test_a_failure_digest_warns_when_video_minutes_run_low(world: TrackingWorld) -> None:
    jobs = [world.running() for _ in range(world.settings.digest_threshold + 1)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "FAILED")
    world.cycle()
    [digest] = [m for m in world.slack.posts("C1") if "jobs finished" in m.text]
    assert "Video minutes running low" in str(digest.blocks)  # the simulator's photo package


def test_a_failure_digest_with_minutes_left_has_no_warning(world: TrackingWorld) -> None:
    def usage_calls() -> int:
        return sum(r.path.endswith("/resources-usage") for r in world.sim.requests)

    world.cycle()
    assert usage_calls() == 0  # nothing waits to be sent: no digest, no question
    first = [world.running() for _ in range(world.settings.digest_threshold + 1)]
    track(world, *first)
    for job in first:
        world.sim.set_state(job, "FAILED")
    world.cycle()  # a digest: the worker reads the simulator's low photo package
    assert usage_calls() == 1
    world.sim.resources = [{"business_type": "VIDEO_2D", "amount": 100, "usage": 1}]
    world.clock.advance(5 * 60)
    world.cycle()
    assert usage_calls() == 1  # read every 10 minutes at most
    world.clock.advance(5 * 60)  # the next check reads the new answer
    jobs = [world.running() for _ in range(world.settings.digest_threshold + 1)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "FAILED")
    world.cycle()
    *_, digest = [m for m in world.slack.posts("C1") if "jobs finished" in m.text]
    assert "running low" not in str(digest.blocks)


def test_one_broadcast_per_failure_burst(world: TrackingWorld) -> None:
    first, second = world.running(), world.running()
    track(world, first, second)
    world.sim.set_state(first, "FAILED")
    world.sim.set_state(second, "FAILED")
    world.cycle()
    replies = world.slack.thread("C1", tracking_message(world).ts)
    assert sorted(r.reply_broadcast for r in replies) == [False, True]

    world.clock.advance(11 * 60)  # the burst is over: the next failure is news again
    third = world.running()
    track(world, third)
    world.sim.set_state(third, "FAILED")
    world.cycle()
    [reply] = [m for m in world.slack.posts("C1") if third in m.text and m.thread_ts]
    assert reply.reply_broadcast


def test_mute_all_snoozes_stuck_announcements_too(world: TrackingWorld) -> None:
    service = world.tracking.service
    service.subscribe(ctx(), Subscribe("stuck"), world.clock())
    service.mute(ctx(), Mute(None, 3600), world.clock())
    quiet = world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(hours=2))
    world.cycle()
    assert not any("is stuck" in m.text for m in world.slack.posts("C1"))
    world.clock.advance(3601)
    loud = world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(hours=2))
    world.cycle()
    [told] = [m for m in world.slack.posts("C1") if "is stuck" in m.text]
    assert loud in str(told.blocks) and quiet not in str(told.blocks)  # never told late


def test_a_muted_job_is_left_out_of_stuck_announcements(world: TrackingWorld) -> None:
    service = world.tracking.service
    service.subscribe(ctx(), Subscribe("stuck"), world.clock())
    quiet = world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(hours=2))
    loud = world.sim.add_job(state="WAITING", create_time=world.clock() - timedelta(hours=3))
    service.mute(ctx(), Mute(quiet, 3600), world.clock())
    world.cycle()
    [told] = [m for m in world.slack.posts("C1") if "is stuck" in m.text]
    assert loud in str(told.blocks) and quiet not in str(told.blocks)


def test_mute_takes_a_job_that_exists_and_unmute_lifts_one(world: TrackingWorld) -> None:
    """Issue #21, 9: ``mute nope 30m`` mutes nothing; ``unmute ID`` lifts that job's."""
    service = world.tracking.service
    refused = service.mute(ctx(), Mute("nope", 1800), world.clock())
    assert refused.text.startswith("No job `nope` found: nothing muted.")
    assert service.oncall.noise("C1", world.clock()).muted_jobs == {}
    first, second = world.running(), world.running()  # known to MetaStudio, not tracked
    service.mute(ctx(), Mute(first, 1800), world.clock())
    service.mute(ctx(), Mute(second, 1800), world.clock())
    assert service.unmute(ctx(), Unmute(first)).text == (
        f"🔔 Unmuted `{first}`: its end is announced here again.")
    assert set(service.oncall.noise("C1", world.clock()).muted_jobs) == {second}
    assert service.unmute(ctx(), Unmute(first)).text == (
        f"`{first}` is not muted in this channel.")


def test_unsubscribe_without_an_id_counts_the_stuck_subscription(world: TrackingWorld) -> None:
    """Issue #21, 9: with a subscription and a stuck one, it asks which (both listed);
    with only the stuck one, it removes that."""
    service = world.tracking.service
    subscribe(world, "failed")
    service.subscribe(ctx(), Subscribe("stuck"), world.clock())
    which = service.unsubscribe(ctx(), Unsubscribe())
    assert which.text.startswith("Which one?") and "unsubscribe stuck" in str(which.blocks)
    [sub] = world.tracking.store.channel_subscriptions("C1")
    service.unsubscribe(ctx(), Unsubscribe(sub.id))
    assert service.unsubscribe(ctx(), Unsubscribe()).text == "Unsubscribed from stuck jobs."
