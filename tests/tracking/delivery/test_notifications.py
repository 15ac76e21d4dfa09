"""Tracked jobs ending: what the channel sees, and that it sees it once; the tracking
message's edit that follows (its jobs, a refusal for good logged, a rate limit retried
without posting the reply again)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.tracking.delivery.sender import SendResult
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import PROMO_VIDEO, RENDER_FAILURE, TrackingWorld
from tests.tracking.delivery.helpers import ended, look_ups
from tests.tracking.helpers import asset, block_types, ctx, subscribe, track, tracking_message


def test_a_succeeded_job_gets_a_thread_reply_with_cover_and_preview(
    world: TrackingWorld,
) -> None:
    world = world.restart(cover_upload=False)  # uploaded covers: delivery/test_covers.py
    job = world.running(**PROMO_VIDEO)
    track(world, job)
    parent = tracking_message(world)
    world.cycle()
    assert world.slack.thread("C1", parent.ts) == []  # still processing: nothing said

    world.sim.set_state(job, "SUCCEED")
    world.cycle()

    [reply] = world.slack.thread("C1", parent.ts)
    assert block_types(reply) == ["section", "image"]
    image = reply.blocks[1]
    assert image["image_url"] == asset(world, job)["cover_url"] and image["alt_text"]
    body = reply.blocks[0]["text"]["text"]
    assert "intro-video" in body and "42 s" in body
    assert asset(world, job)["preview_video_url"] in body
    assert "24 h" in body and not reply.reply_broadcast
    edited = world.slack.message("C1", parent.ts)
    assert edited.edits and "all finished" in edited.text
    assert "Succeeded" in str(edited.blocks)

    world.cycle()
    assert len(world.slack.thread("C1", parent.ts)) == 1  # seen again, not said again


def test_a_2d_video_has_a_cover_but_promises_no_preview(world: TrackingWorld) -> None:
    world = world.restart(cover_upload=False)
    job = world.running()  # MetaStudio: 2D digital-human videos have no preview
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.cycle()
    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert reply.blocks[1]["image_url"] == asset(world, job)["cover_url"]
    body = reply.blocks[0]["text"]["text"]
    assert "1 min" in body and "Preview" not in body and "24 h" not in body


@pytest.mark.parametrize("broadcast", [True, False])
def test_a_failed_job_shows_the_error_and_is_broadcast_if_configured(
    world: TrackingWorld, broadcast: bool
) -> None:
    world = world.restart(broadcast_failures=broadcast)
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "FAILED", **RENDER_FAILURE)
    world.cycle()
    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert reply.reply_broadcast is broadcast
    assert "MSS.00000004" in reply.text and "render failed" in str(reply.blocks)


def test_upstream_text_cannot_ping_the_channel(world: TrackingWorld) -> None:
    job = world.running(asset_name="<!channel> promo")
    track(world, job)
    world.sim.set_state(job, "FAILED", error_code="<!here>", error_msg="<@U123> broke it")
    world.cycle()
    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert reply.reply_broadcast  # failures reach the whole channel, so this matters
    shown = reply.text + str(reply.blocks)
    for mention in ("<!channel>", "<!here>", "<@U123>"):
        assert mention not in shown
    assert "&lt;!channel&gt; promo" in shown


@pytest.mark.parametrize(
    ("state", "words", "label"),
    [("CANCELED", "canceled", "Canceled"), ("BLOCK", "blocked", "Blocked")],
)
def test_canceled_and_blocked_jobs_are_reported(
    world: TrackingWorld, state: str, words: str, label: str
) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, state)
    world.cycle()
    parent = tracking_message(world)
    [reply] = world.slack.thread("C1", parent.ts)
    edited = world.slack.message("C1", parent.ts)
    assert words in reply.text and label in edited.text + str(edited.blocks)


def test_a_cover_slack_cannot_fetch_is_replaced_by_a_link(world: TrackingWorld) -> None:
    world = world.restart(cover_upload=False)
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.slack.reject_images = True
    cover = asset(world, job)["cover_url"]  # signed now; the second post waits its turn
    world.cycle()
    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert block_types(reply) == ["section"]
    assert cover in reply.blocks[0]["text"]["text"]  # as a link


def test_a_rate_limit_reschedules_and_delivers_once(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.slack.rate_limit("chat.postMessage", retry_after=20)
    world.cycle()
    parent = tracking_message(world)
    assert world.slack.thread("C1", parent.ts) == []
    [row] = world.tracking.outbox.rows()
    assert row.status == "pending" and row.failures == 0
    assert (row.next_attempt_at - world.clock()).total_seconds() == 20

    world.clock.advance(19)
    world.cycle()
    assert world.slack.thread("C1", parent.ts) == []  # Retry-After is respected
    world.clock.advance(1)
    world.cycle()
    world.clock.advance(60)
    world.cycle()
    assert len(world.slack.thread("C1", parent.ts)) == 1


def test_a_channel_the_bot_left_is_paused_with_the_reason(world: TrackingWorld) -> None:
    first, second = world.running(), world.running()
    track(world, first, second)
    world.slack.channel_errors["C1"] = "not_in_channel"
    world.sim.set_state(first, "SUCCEED")
    world.cycle()
    world.sim.set_state(second, "FAILED")
    world.cycle()  # paused: not polled, nothing enqueued or posted
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed" and "not_in_channel" in row.last_error
    answer = world.tracking.service.tracked(ctx())
    assert "paused: not_in_channel" in str(answer.blocks) and "/invite" in str(answer.blocks)
    assert "not delivered" in str(answer.blocks)
    assert len(world.slack.calls_to("chat.postMessage")) == 2  # the tracking message + one


@pytest.mark.parametrize(("draw", "first"), [(1.0, 5.0), (0.0, 2.5)], ids=["top", "bottom"])
def test_transient_errors_back_off_capped_for_hours_then_fail_visibly(
    world: TrackingWorld, draw: float, first: float
) -> None:
    world = world.restart(delivery_backoff_seconds=5, delivery_max_backoff_seconds=300,
                          delivery_give_up_hours=2)
    world.tracking.sender.rng = lambda: draw  # the jitter's extremes
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.slack.fail("chat.postMessage", "internal_error", status=500, times=10_000)
    started, delays = world.clock(), []
    for _ in range(200):
        world.cycle()
        [row] = world.tracking.outbox.rows()
        if row.status == "failed":
            break
        delays.append((row.next_attempt_at - world.clock()).total_seconds())
        world.clock.advance(delays[-1])
    doubling = [first * 2**n for n in range(7)]
    assert delays[:7] == [min(d, 300 * first / 5) for d in doubling]  # capped at 300 s
    assert set(delays[7:]) == {300 * first / 5}
    assert len(delays) > 6  # not six tries: two hours of them
    assert world.clock() - started >= timedelta(hours=2)
    assert row.status == "failed" and "gave up after" in row.last_error


def test_a_change_recorded_before_a_restart_is_delivered_after_it(
    world: TrackingWorld,
) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()  # seen and enqueued; the process dies before sending
    restarted = world.restart()
    restarted.tracking.sender.send_due()
    restarted.cycle()
    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 1


class _CrashAfterPosting:
    """Posts for real, then dies before the sender can record it."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def post(self, channel, **kw):
        self.inner.post(channel, **kw)
        raise SystemExit("killed after posting")

    def update(self, channel, ts, **kw):
        self.inner.update(channel, ts, **kw)

    def marked(self, channel, **kw):
        return self.inner.marked(channel, **kw)


@pytest.mark.parametrize("subscribed", [False, True], ids=["thread", "top-level"])
def test_a_crash_after_posting_leaves_exactly_one_message(
    world: TrackingWorld, subscribed: bool
) -> None:
    job = world.running()
    if subscribed:
        subscribe(world, "finished")
    else:
        track(world, job)
    world.clock.advance(1)
    world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    crashing = build_tracking(world.settings, world.client, _CrashAfterPosting(world.messenger),
                              clock=world.clock,
                             sleep=world.clock.sleep)
    with pytest.raises(SystemExit):
        crashing.sender.send_due()
    posts = len(world.slack.calls_to("chat.postMessage"))

    world.clock.advance(600)  # the dead sender's lease runs out
    restarted = world.restart()
    restarted.tracking.sender.send_due()
    restarted.tracking.sender.send_due()

    assert len(world.slack.calls_to("chat.postMessage")) == posts  # nothing posted again
    [row] = restarted.tracking.outbox.rows()
    # One post begun, the crashed sender's: the restarted one found it by its marker.
    assert row.status == "sent" and row.attempts == 1
    assert row.posted_ts == world.slack.posts("C1")[-1].ts
    if not subscribed:
        assert "all finished" in tracking_message(world).text  # the edit still happened


def test_an_unknown_refusal_fails_the_row_without_retrying(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.slack.fail("chat.postMessage", "invalid_arguments")
    world.cycle()
    [row] = world.tracking.outbox.rows()
    assert row.status == "failed" and "invalid_arguments" in row.last_error


def test_a_transient_failure_holds_the_rest_of_the_channel(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    jobs = [world.running() for _ in range(3)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.sender.rng = lambda: 1.0
    world.slack.fail("chat.postMessage", "internal_error", status=500)
    before = len(world.slack.calls_to("chat.postMessage"))
    world.cycle()
    assert len(world.slack.calls_to("chat.postMessage")) == before + 1  # not three failures
    world.clock.advance(4)
    world.cycle()
    assert len(world.slack.calls_to("chat.postMessage")) == before + 1  # held for the 5 s
    world.clock.advance(1)
    world.cycle()
    # The failed post again (it may be in Slack: alone, after a look-up), then the two
    # that waited on the backoff, folded into one reply.
    first, folded = world.slack.thread("C1", tracking_message(world).ts)
    assert jobs[0] in first.text and jobs[0] not in str(folded.blocks)
    assert folded.text == "<@U1> 2 jobs finished: 2 ✅"
    assert all(job in str(folded.blocks) for job in jobs[1:])


# -- the tracking message's edit ---------------------------------------------------------


def test_an_edit_slack_refuses_for_good_is_logged_and_the_row_is_sent(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    ended(world, 1)
    parent = tracking_message(world)
    world.slack.fail("chat.update", "cant_update_message")
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert (f"tracking message {parent.ts} in C1 not updated: chat_update: "
            "cant_update_message") in caplog.messages
    assert world.slack.message("C1", parent.ts).edits == []  # type: ignore[union-attr]
    assert [r.status for r in world.tracking.outbox.rows()] == ["sent"]


def test_the_edit_shows_the_jobs_of_that_message_in_that_channel(world: TrackingWorld) -> None:
    [job] = ended(world, 1)
    parent = tracking_message(world)
    text_before = parent.text
    world.tracking.sender.send_due()
    edited = world.slack.message("C1", parent.ts)
    assert edited is not None and edited.edits and edited.text != text_before
    assert job in edited.text + str(edited.blocks) and "all finished" in edited.text
    assert edited.blocks  # the edit carries the blocks, not only the text


def test_a_rate_limited_edit_retries_the_row_without_posting_it_again(
    world: TrackingWorld,
) -> None:
    ended(world, 1)
    parent = tracking_message(world)
    world.slack.rate_limit("chat.update", retry_after=7)
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    [row] = world.tracking.outbox.rows()
    [reply] = world.slack.thread("C1", parent.ts)
    assert (row.status, row.posted_ts, row.attempts) == ("pending", reply.ts, 1)
    world.clock.advance(7)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert len(world.slack.thread("C1", parent.ts)) == 1  # not posted twice
    assert look_ups(world) == 0  # its ts was recorded: nothing to look for
    assert "all finished" in tracking_message(world).text
