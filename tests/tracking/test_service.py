"""The tracking commands (bot/tracking/service.py) as the router calls them: that each
one works, and its exact answers (their words, their branches, their arguments) and
what each one stores or posts. Slack is the fake Slack over HTTP, MetaStudio the
simulator, the database real."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from pytest_mock import MockerFixture
from sqlalchemy.exc import OperationalError

from bot.commands.types import ChannelSettings, Mute, Subscribe, Track, Unmute, Unsubscribe, Untrack
from bot.metastudio.errors import UnavailableError
from bot.tracking.service import INVITE_HINT, NOT_SAVED, TrackingService
from bot.tracking.store.tables import job_watchers
from tests.fixtures.tracking import PROMO_VIDEO, UPSTREAM_DOWN, TrackingWorld
from tests.tracking.helpers import asset, ctx, subscribe, track, tracking_message

TRACKING = "I reply in the tracking message's thread when each one ends."


def _service(world: TrackingWorld) -> TrackingService:
    return world.tracking.service


def _watchers(world: TrackingWorld) -> set[tuple[str, str]]:
    with world.tracking.store.begin() as conn:
        return {(r.job_id, r.user_id) for r in conn.execute(
            sa.select(job_watchers.c.job_id, job_watchers.c.user_id))}


def _section_texts(blocks: list[Any]) -> list[str]:
    texts = []
    for block in blocks:
        data = block.to_dict() if hasattr(block, "to_dict") else block
        if data.get("text"):
            texts.append(data["text"]["text"])
    return texts


def _lines(blocks: list[Any]) -> list[str]:
    """The lines of a ``lines_reply`` under its title (sections hold several lines)."""
    return "\n".join(_section_texts(blocks)[1:]).split("\n")


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


# -- track ---------------------------------------------------------------------------------------


def test_track_answers_each_kind_of_id_on_its_own_line(world: TrackingWorld) -> None:
    first, second, already, ended = (world.running() for _ in range(4))
    world.sim.set_state(ended, "FAILED")
    track(world, already)
    reply = track(world, first, second, first, already, ended, "no-such-job")
    lines = reply.text.split("\n")
    assert lines[0] == f"👀 Tracking `{first}`, `{second}`: {TRACKING}"
    assert lines[1] == f"Already tracked here: `{already}`"
    assert lines[2].startswith("Already finished: ") and ended in lines[2]
    assert lines[3] == "No such job: `no-such-job`"
    assert len(lines) == 4
    texts = _section_texts(reply.blocks)
    assert texts[0] == lines[0] and texts[1] == lines[1] and texts[-1] == lines[3]
    # Each id once, the tracked ones in one new tracking message with their details.
    tracked = world.tracking.store.channel_tracked("C1")
    assert [t.job_id for t in tracked] == [already, first, second]
    message = tracking_message(world, "C1")
    new = [t for t in tracked if t.job_id != already]
    assert {t.message_ts for t in new} == {world.slack.posts("C1")[-1].ts}
    assert message.ts != new[0].message_ts
    assert {(t.requested_by, t.last_state) for t in new} == {("U1", "PROCESSING")}
    assert all(t.job_created_at is not None for t in new)
    assert "Tracking 2 jobs for <@U1>" in world.slack.posts("C1")[-1].text


def test_track_lists_several_known_and_unknown_ids_comma_separated(
    world: TrackingWorld,
) -> None:
    first, second = world.running(), world.running()
    track(world, first, second)
    reply = track(world, first, second, "gone-1", "gone-2")
    assert reply.text == (f"Already tracked here: `{first}`, `{second}`\n"
                          "No such job: `gone-1`, `gone-2`")


def test_an_already_finished_job_is_answered_with_its_cover_linked_not_shown(
    world: TrackingWorld,
) -> None:
    job = world.running(**PROMO_VIDEO)
    world.sim.set_state(job, "SUCCEED")
    reply = track(world, job)
    assert reply.text == f"Already finished: ✅ `{job}` succeeded"
    assert [b.to_dict()["type"] for b in reply.blocks] == ["section"]  # no image block
    cover = asset(world, job)["cover_url"].split("Expires=")[0]  # signed when read
    assert f"<{cover}" in _section_texts(reply.blocks)[0]
    assert "|Cover image>" in _section_texts(reply.blocks)[0]


def test_track_refuses_a_bad_id_before_anything_else(world: TrackingWorld) -> None:
    reply = track(world, "bad id;")
    assert reply.text == ("`bad id;` is not a job id: use letters, digits, `-` and `_`, "
                          "at most 64.")
    assert world.sim.requests == [] and world.slack.posts() == []


def test_track_with_only_known_ids_asks_metastudio_nothing(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    asked = len(world.sim.requests)
    reply = track(world, job)
    assert reply.text == f"Already tracked here: `{job}`"
    assert len(world.sim.requests) == asked


def test_notify_me_watches_new_and_already_tracked_jobs(world: TrackingWorld) -> None:
    already, new = world.running(), world.running()
    track(world, already)
    reply = _service(world).track(ctx(user="U7"), Track((new, already), notify_me=True),
                                  world.clock())
    assert reply.text.split("\n")[-1] == f"📬 I'll also DM you when `{new}`, `{already}` end."
    assert _watchers(world) == {(new, "U7"), (already, "U7")}
    one = world.running()
    reply = _service(world).track(ctx(user="U8"), Track((one,), notify_me=True), world.clock())
    assert reply.text.split("\n")[-1] == f"📬 I'll also DM you when `{one}` ends."


def test_without_notify_me_nobody_is_watching(world: TrackingWorld) -> None:
    job = world.running()
    reply = track(world, job)
    assert "DM" not in reply.text and _watchers(world) == set()


def test_the_answer_keeps_to_slacks_fifty_blocks(world: TrackingWorld) -> None:
    already, new = world.running(), world.running()
    track(world, already)
    ended = [world.running() for _ in range(47)]
    for job in ended:
        world.sim.set_state(job, "FAILED")  # one block each
    reply = _service(world).track(ctx(), Track((new, already, *ended, "no-such-job"),
                                               notify_me=True), world.clock())
    # 1 tracking + 1 already + 47 finished + 1 DM + 1 unknown = 51 blocks: the last goes.
    assert len(reply.blocks) == 50
    assert _section_texts(reply.blocks)[-1].startswith("📬 I'll also DM you")
    assert reply.text.count("Already finished: ") == 47  # the text keeps every line
    assert reply.text.endswith("No such job: `no-such-job`")


@pytest.mark.parametrize(("fault", "answer"), [
    (dict(channel="not_in_channel"),
     f"I can't post the tracking message (`not_in_channel`). {INVITE_HINT}"),
    (dict(rate_limit=30), "Slack is rate-limiting me here; try again in 30 s."),
    (dict(error="invalid_arguments"),
     "Slack refused to post the tracking message (`invalid_arguments`)."),
])
def test_a_refused_tracking_message_is_explained(
    world: TrackingWorld, fault: dict[str, Any], answer: str
) -> None:
    if "channel" in fault:
        world.slack.channel_errors["C1"] = fault["channel"]
    elif "rate_limit" in fault:
        world.slack.rate_limit("chat.postMessage", retry_after=fault["rate_limit"])
    else:
        world.slack.fail("chat.postMessage", fault["error"])
    job = world.running()
    assert track(world, job).text == answer
    assert world.tracking.store.channel_tracked("C1") == []


def test_a_tracking_the_database_cannot_save_is_marked_in_its_message(
    world: TrackingWorld, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*args: object, **kw: object) -> list[str]:
        raise OperationalError("INSERT INTO tracked_jobs", {}, Exception("database is down"))

    mocker.patch.object(world.tracking.store, "add_tracked", side_effect=down)
    job = world.running()
    reply = track(world, job)
    assert reply.text == ("I couldn't save the tracking (the database did not answer), so "
                          "nothing will be posted for these jobs. Try again in a moment.")
    [message] = world.slack.posts("C1")
    assert message.text == NOT_SAVED and message.blocks == []
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == "tracking in C1 not saved; marking its message"


def test_a_mark_slack_refuses_is_logged_and_the_answer_stays(
    world: TrackingWorld, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    def down(*args: object, **kw: object) -> list[str]:
        raise OperationalError("INSERT INTO tracked_jobs", {}, Exception("database is down"))

    mocker.patch.object(world.tracking.store, "add_tracked", side_effect=down)
    world.slack.fail("chat.update", "cant_update_message")
    reply = track(world, world.running())
    assert reply.text.startswith("I couldn't save the tracking")
    [message] = world.slack.posts("C1")
    assert message.edits == []
    assert (f"tracking message {message.ts} not marked as unsaved: chat_update: "
            "cant_update_message") in caplog.messages


# -- untrack, tracked ------------------------------------------------------------------------------


def test_untrack_answers(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    assert _service(world).untrack(ctx(), Untrack(job)).text == f"Stopped tracking `{job}` here."
    assert _service(world).untrack(ctx(), Untrack(job)).text == (
        f"This channel is not tracking `{job}`.")


def test_tracked_lists_jobs_and_the_last_five_undelivered(world: TrackingWorld) -> None:
    assert _service(world).tracked(ctx()).text == (
        "This channel tracks no jobs. Use `/videojobs track <job_id>` to start.")
    job = world.running()
    track(world, job)
    reply = _service(world).tracked(ctx())
    assert reply.text == "This channel tracks 1 job"
    [line] = _lines(reply.blocks)
    assert f"`{job}`" in line
    outbox = world.tracking.outbox
    with world.tracking.store.begin() as conn:
        for i in range(7):
            outbox.enqueue(conn, kind="sub", channel="C1", dedupe_key=f"k{i}", payload={},
                           now=world.clock())
    for row in outbox.claim("me", now=world.clock(), lease=timedelta(minutes=1)):
        outbox.fail(row, "me", f"error {row.dedupe_key}")
    track(world, world.running())
    reply = _service(world).tracked(ctx())
    assert reply.text == "This channel tracks 2 jobs"
    assert _lines(reply.blocks)[2:] == [
        f"⚠️ not delivered: `k{i}`: error k{i}" for i in range(2, 7)]


# -- subscribe, unsubscribe, subscriptions ----------------------------------------------------


def test_subscribe_posts_a_confirmation_and_answers_with_the_line(world: TrackingWorld) -> None:
    reply = _service(world).subscribe(
        ctx(user="U5"), Subscribe("all", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                                  asset_name="intro", script_id="s-1"), world.clock())
    line = ("#1 all (type=PHOTO_DIGITAL_HUMAN_VIDEO, asset=intro, script=s-1), by <@U5>")
    assert reply.text == f"Subscribed: {line}. `/videojobs unsubscribe 1` stops it."
    [posted] = world.slack.posts("C1")
    assert posted.text == ("📣 <@U5> subscribed this channel to all jobs (subscription #1). "
                           "Jobs that end from now on are announced here.")
    [sub] = world.tracking.store.channel_subscriptions("C1")
    assert (sub.outcome, sub.job_type, sub.asset_name, sub.script_id, sub.created_by) == (
        "all", "PHOTO_DIGITAL_HUMAN_VIDEO", "intro", "s-1", "U5")
    again = _service(world).subscribe(
        ctx(), Subscribe("all", job_type="PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="intro",
                         script_id="s-1", notify_group="S0ONCALL"), world.clock())
    assert again.text == ("Updated subscription #1: its failures now page <!subteam^S0ONCALL> "
                          "(was nobody); its outcome and filters stay as they were: "
                          f"{line}, pages <!subteam^S0ONCALL> on failures")
    assert len(world.slack.posts("C1")) == 1


def test_subscribe_without_filters(world: TrackingWorld) -> None:
    assert subscribe(world, "failed").text == (
        "Subscribed: #1 failed, by <@U1>. `/videojobs unsubscribe 1` stops it.")
    [sub] = world.tracking.store.channel_subscriptions("C1")
    assert (sub.job_type, sub.asset_name, sub.script_id) == (None, None, None)


def test_a_confirmation_slack_refuses_otherwise_keeps_the_subscription(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.slack.fail("chat.postMessage", "invalid_arguments")
    reply = subscribe(world, "failed")
    assert reply.text.startswith("Subscribed: #1 failed")
    assert ("subscription #1 confirmation not posted: chat_postMessage: invalid_arguments"
            in caplog.messages)
    assert len(world.tracking.store.channel_subscriptions("C1")) == 1


def test_a_channel_the_bot_cannot_post_in_keeps_no_subscription(world: TrackingWorld) -> None:
    subscribe(world, "finished", channel="C2")
    world.slack.channel_errors["C1"] = "channel_not_found"
    assert subscribe(world, "failed").text == (
        f"I can't post in this channel (`channel_not_found`). {INVITE_HINT}")
    assert world.tracking.store.channel_subscriptions("C1") == []
    assert len(world.tracking.store.channel_subscriptions("C2")) == 1


def test_a_new_subscription_lifts_the_channels_pause(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    with world.tracking.store.begin() as conn:
        world.tracking.store.pause_channel(conn, "C1", "not_in_channel")
    subscribe(world, "finished")
    assert {s.paused_reason for s in world.tracking.store.channel_subscriptions("C1")} == {None}


def test_unsubscribe_answers(world: TrackingWorld) -> None:
    service = _service(world)
    assert service.unsubscribe(ctx(), Unsubscribe()).text == "This channel has no subscriptions."
    subscribe(world, "failed")
    subscribe(world, "all", notify_group="S0ONCALL")
    which = service.unsubscribe(ctx(), Unsubscribe())
    assert which.text == "Which one? `/videojobs unsubscribe <id>` (or `unsubscribe stuck`)"
    assert _lines(which.blocks) == [
        "#1 failed, by <@U1>", "#2 all, by <@U1>, pages <!subteam^S0ONCALL> on failures"]
    assert service.unsubscribe(ctx(), Unsubscribe(1)).text == "Unsubscribed #1."
    assert service.unsubscribe(ctx(), Unsubscribe(1)).text == (
        "This channel has no subscription #1.")
    assert service.unsubscribe(ctx(), Unsubscribe()).text == "Unsubscribed #2."


def test_subscriptions_lists_the_channels_own_and_the_stuck_watch(world: TrackingWorld) -> None:
    service = _service(world)
    assert service.subscriptions(ctx()).text == (
        "This channel has no subscriptions. `/videojobs subscribe failed` announces every "
        "failed job.")
    subscribe(world, "failed")
    subscribe(world, "all", channel="C2")
    service.subscribe(ctx(), Subscribe("stuck", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                                       notify_group="S0ONCALL"), world.clock())
    listed = service.subscriptions(ctx())
    assert listed.text == "Subscriptions of this channel (2)"
    assert _lines(listed.blocks) == [
        "#1 failed, by <@U1>",
        "stuck (type=PHOTO_DIGITAL_HUMAN_VIDEO), by <@U1>, pages <!subteam^S0ONCALL> "
        "(`unsubscribe stuck`)"]
    service.subscribe(ctx("C3"), Subscribe("stuck"), world.clock())
    assert _section_texts(service.subscriptions(ctx("C3")).blocks) == [
        "*Subscriptions of this channel (1)*", "stuck, by <@U1> (`unsubscribe stuck`)"]


# -- stuck ---------------------------------------------------------------------------------------


def test_subscribe_and_unsubscribe_stuck(world: TrackingWorld) -> None:
    service = _service(world)
    assert service.unsubscribe(ctx(), Unsubscribe(stuck=True)).text == (
        "This channel is not subscribed to stuck jobs.")
    reply = service.subscribe(ctx(user="U4"), Subscribe("stuck"), world.clock())
    assert reply.text == ("Subscribed: stuck jobs in this channel. "
                          "`/videojobs unsubscribe stuck` stops it.")
    [posted] = world.slack.posts("C1")
    assert posted.text == (
        "🐢 <@U4> subscribed this channel to stuck jobs: each unfinished job that waits or "
        "runs longer than usual for its type is announced once, and again when it ends.")
    again = service.subscribe(ctx(), Subscribe("stuck", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                                               notify_group="S1"), world.clock())
    assert again.text == ("Updated the stuck subscription: for `PHOTO_DIGITAL_HUMAN_VIDEO` "
                          "jobs (was every job type), paging <!subteam^S1> (was nobody).")
    assert len(world.slack.posts("C1")) == 1
    watch = world.tracking.stuck.watch_of("C1")  # type: ignore[union-attr]
    assert watch is not None
    assert (watch.job_type, watch.group_id, watch.created_by) == (
        "PHOTO_DIGITAL_HUMAN_VIDEO", "S1", "U4")  # filters replaced, the creator kept
    assert service.unsubscribe(ctx(), Unsubscribe(stuck=True)).text == (
        "Unsubscribed from stuck jobs.")
    assert world.tracking.stuck.watch_of("C1") is None  # type: ignore[union-attr]


def test_stuck_in_a_channel_the_bot_cannot_post_in(world: TrackingWorld) -> None:
    world.slack.channel_errors["C1"] = "not_in_channel"
    reply = _service(world).subscribe(ctx(), Subscribe("stuck"), world.clock())
    assert reply.text == f"I can't post in this channel (`not_in_channel`). {INVITE_HINT}"
    assert world.tracking.stuck.watch_of("C1") is None  # type: ignore[union-attr]


def test_a_stuck_confirmation_slack_refuses_otherwise_keeps_the_watch(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world.slack.fail("chat.postMessage", "invalid_arguments")
    reply = _service(world).subscribe(ctx(), Subscribe("stuck"), world.clock())
    assert reply.text.startswith("Subscribed: stuck jobs")
    assert ("stuck subscription confirmation not posted: chat_postMessage: invalid_arguments"
            in caplog.messages)
    assert world.tracking.stuck.watch_of("C1") is not None  # type: ignore[union-attr]


def test_without_a_stuck_check_stuck_is_not_offered(world: TrackingWorld) -> None:
    tracking = world.tracking
    service = TrackingService(tracking.store, tracking.outbox, world.client, world.messenger,
                              broadcast_default=True)
    assert service.subscribe(ctx(), Subscribe("stuck"), world.clock()).text == (
        "Stuck-job announcements are not available in this bot.")
    assert service.unsubscribe(ctx(), Unsubscribe(stuck=True)).text == (
        "This channel is not subscribed to stuck jobs.")
    subscribe(world, "failed")
    assert service.subscriptions(ctx()).text == "Subscriptions of this channel (1)"
    assert world.slack.posts("C1")[-1].text.startswith("📣")


# -- notes, noise controls ------------------------------------------------------------------------


def test_a_note_goes_to_the_jobs_tracking_thread_in_that_channel_only(
    world: TrackingWorld,
) -> None:
    job = world.running()
    track(world, job)
    parent = tracking_message(world)
    _service(world).note_in_thread(ctx(), job, "retried by <@U1>")
    [note] = world.slack.thread("C1", parent.ts)
    assert note.text == "retried by <@U1>"
    _service(world).note_in_thread(ctx("C2"), job, "elsewhere")
    _service(world).note_in_thread(ctx(), "other-job", "untracked")
    assert len(world.slack.posts()) == 2


def test_mute_and_unmute_answers(world: TrackingWorld) -> None:
    service = _service(world)
    job = world.running()  # a job MetaStudio knows (a typo mutes nothing)
    reply = service.mute(ctx(), Mute(job, 3600), world.clock())
    assert reply.text == (f"🔕 Muted `{job}` in this channel for 1 h. Tracked jobs still "
                          "reply in their threads. `/videojobs unmute` lifts it.")
    reply = service.mute(ctx(), Mute(None, 600), world.clock())
    assert reply.text.startswith("🔕 Muted all subscription announcements in this channel "
                                 "for 10 min.")
    noise = world.tracking.service.oncall.noise("C1", world.clock())
    assert noise.muted_until == world.clock() + timedelta(seconds=600)
    assert noise.muted_jobs == {job: world.clock() + timedelta(seconds=3600)}
    assert service.unmute(ctx(), Unmute()).text == "🔔 Unmuted: subscriptions announce here again."
    assert service.unmute(ctx(), Unmute()).text == "Nothing is muted in this channel."


@pytest.mark.parametrize(("value", "stored", "shown"), [
    ("on", True, "on (set for this channel)"), ("off", False, "off (set for this channel)"),
    ("default", None, "on (the bot's default)")])
def test_settings_broadcast(world: TrackingWorld, value: str, stored: bool | None,
                            shown: str) -> None:
    service = _service(world)
    service.settings(ctx(), ChannelSettings("off" if value != "off" else "on"), world.clock())
    saved = service.settings(ctx(), ChannelSettings(value), world.clock())  # type: ignore[arg-type]
    assert saved.text == "Settings saved"
    assert _section_texts(saved.blocks)[1] == f"*Failures broadcast to the channel:* {shown}"
    assert service.oncall.noise("C1", world.clock()).broadcast_failures is stored
    shown_again = service.settings(ctx(), ChannelSettings(), world.clock())
    assert shown_again.text == "Settings of this channel"


def test_settings_show_the_bots_default_it_was_built_with(world: TrackingWorld) -> None:
    tracking = world.tracking
    service = TrackingService(tracking.store, tracking.outbox, world.client, world.messenger,
                              broadcast_default=False)
    assert service.broadcast_default is False
    shown = service.settings(ctx(), ChannelSettings(), world.clock())
    assert _section_texts(shown.blocks)[1] == (
        "*Failures broadcast to the channel:* off (the bot's default)")
    assert _service(world).broadcast_default is True


def test_logs_name_the_channel(world: TrackingWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    subscribe(world, "failed")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING
                and r.name == "bot.tracking.service"]


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
