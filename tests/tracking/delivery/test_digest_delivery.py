"""How a digest is posted (bot/tracking/delivery/rows.py): a fresh one looks nothing up
and edits each tracking message; its summary is recorded before its details are posted;
a summary a dead sender posted is found by its marker, a recorded one's thread alone is
looked up; and its plan is reused when the same sender resumes it, then forgotten."""

from __future__ import annotations

from typing import Any

from pytest_mock import MockerFixture

from bot.tracking.delivery.sender import SendResult
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import dies_at, ended_burst, look_ups, marked
from tests.tracking.helpers import track


def test_a_fresh_digest_looks_nothing_up_and_edits_its_tracking_message(
    world: TrackingWorld,
) -> None:
    jobs = [world.running() for _ in range(6)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert look_ups(world) == 0
    [tracking] = [m for m in world.slack.posts("C1") if m.metadata is None]
    [(summary_key, summary), (details_key, details)] = marked(world)
    # One reply in the tracking thread, addressed to who tracked the jobs; the
    # details follow it in that same thread.
    assert summary.text == "<@U1> 6 jobs finished: 6 ✅" and summary.thread_ts == tracking.ts
    assert details_key == f"{summary_key}#0" and details.thread_ts == tracking.ts
    assert not summary.reply_broadcast and not details.reply_broadcast  # no failures
    assert all(job in str(details.blocks) for job in jobs)
    assert "all finished" in tracking.text
    assert world.tracking.sender.rows._plans == {}
    rows = world.tracking.outbox.rows()
    assert {(r.status, r.posted_ts) for r in rows} == {("sent", summary.ts)}


def test_ends_of_two_tracking_messages_stay_in_their_own_threads(
    world: TrackingWorld,
) -> None:
    """Six ends in one channel, three under each of two tracking messages: two
    destinations of three, so each job replies in its own thread (no channel digest)."""
    first = [world.running() for _ in range(3)]
    second = [world.running() for _ in range(3)]
    track(world, *first)
    track(world, *second)
    for job in first + second:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    assert world.tracking.sender.send_due() == SendResult(sent=6)
    one, two = [m for m in world.slack.posts("C1") if m.metadata is None]
    assert [j for j in first if j in str(world.slack.thread("C1", one.ts))] == first
    assert [j for j in second if j in str(world.slack.thread("C1", two.ts))] == second
    assert all("all finished" in m.text for m in (one, two))


def test_a_digest_records_its_summary_before_posting_the_details(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    ended_burst(world)
    messenger = world.tracking.sender.messenger
    post, recorded = messenger.post, []

    def details_post(channel: str, **kw: Any) -> str:
        if "#" in kw.get("marker", ""):
            [digest] = [r for r in world.tracking.outbox.rows() if r.kind == "digest"]
            recorded.append(digest.posted_ts)
        return post(channel, **kw)

    mocker.patch.object(messenger, "post", side_effect=details_post)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(_, summary), (_, details)] = marked(world)
    assert recorded == [summary.ts]
    assert details.text == "Details of 6 jobs"


def test_a_digest_whose_summary_a_dead_sender_posted_is_found_not_posted_again(
    world: TrackingWorld,
) -> None:
    ids = ended_burst(world)
    dies_at(world, 1)  # the summary is in Slack, not recorded
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    [(summary_key, summary), (details_key, details)] = marked(world)
    assert details.thread_ts == summary.thread_ts and details_key == f"{summary_key}#0"
    assert all(job in str(details.blocks) for job in ids)
    # Looked for in the tracking thread it was posted in, once for the summary and its
    # details alike.
    [look_up] = world.slack.calls_to("conversations.replies")
    assert look_up.args["ts"] == summary.thread_ts
    assert world.slack.calls_to("conversations.history") == []
    [digest] = [r for r in world.tracking.outbox.rows() if r.kind == "digest"]
    assert (digest.status, digest.posted_ts) == ("sent", summary.ts)


def test_a_digest_whose_summary_was_recorded_only_looks_up_its_thread(
    world: TrackingWorld,
) -> None:
    ended_burst(world, 30)  # two detail replies
    dies_at(world, 2)  # the summary recorded, the first details posted, not recorded
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert [key.split("#")[-1] for key, _ in marked(world)][1:] == ["0", "1"]
    assert world.slack.calls_to("conversations.history") == []  # its ts was known
    assert len(world.slack.calls_to("conversations.replies")) == 1


def test_a_digest_resumed_by_the_same_sender_reuses_its_plan(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    ended_burst(world, 30)
    members = mocker.spy(world.tracking.outbox, "members")
    messenger = world.tracking.sender.messenger
    post, posts = messenger.post, []

    def limited_at_the_third(channel: str, **kw: Any) -> str:
        posts.append(1)
        if len(posts) == 3:
            world.slack.rate_limit("chat.postMessage", retry_after=5)
        return post(channel, **kw)

    mocker.patch.object(messenger, "post", side_effect=limited_at_the_third)
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    world.clock.advance(5)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    loads = members.call_args_list
    assert len(loads) == 1  # members loaded and laid out once
    assert world.tracking.sender.rows._plans == {}
    assert len(marked(world)) == 3  # summary and two details, each once


def test_digest_plans_other_senders_finished_are_dropped_past_a_hundred(
    world: TrackingWorld,
) -> None:
    sender = world.tracking.sender
    plan = object()
    sender.rows._plans = {i: plan for i in range(100)}  # type: ignore[misc]
    sender.send_due()
    assert len(sender.rows._plans) == 100
    sender.rows._plans[100] = plan  # type: ignore[assignment]
    sender.send_due()
    assert sender.rows._plans == {}
