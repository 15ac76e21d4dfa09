"""Ends that come faster than Slack's pace of one post a second per channel (callbacks
0.5 s apart) wait for the channel's hold; when the hold ends, the few that waited for
one destination are one message, and an incident's waiting failures one reply in its
thread (docs/delivery.md, "Folding what waits on the pace"). Ends that did not wait (a
poll that finds a few at once in a quiet channel) are still told one by one, covers and
all. The real poller, sender, simulator and fake Slack; time on the test's clock."""

from __future__ import annotations

from bot.commands.types import Subscribe
from bot.domain.job_events import JOBS_ENDED
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import dies_at
from tests.tracking.helpers import ctx, subscribe, track

ONCALL = "S0ONCALL"


def _announced(world: TrackingWorld, channel: str = "C1") -> list:
    return [m for m in world.slack.posts(channel) if m.metadata and m.thread_ts is None]


def _end(world: TrackingWorld, jobs: list[str], state: str = "SUCCEED", **kw: str) -> None:
    """The jobs end and the poll writes their notifications, at the clock's time."""
    for job in jobs:
        world.sim.set_state(job, state, **kw)
    world.tracking.poller.poll()


def _seen_running(world: TrackingWorld, n: int) -> list[str]:
    jobs = [world.running() for _ in range(n)]
    world.cycle()
    world.clock.advance(30)  # the channel is quiet: its last post is long past
    return jobs


def test_ends_written_while_the_channel_waits_on_its_pace_are_one_message(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    first, *waiting = _seen_running(world, 4)
    _end(world, [first])
    assert world.tracking.sender.send_due().sent == 1  # the channel is paced for 1 s
    _end(world, waiting)  # written during that second
    world.clock.advance(1.1)  # past the pace (1 s and a 10 ms guard)

    assert world.tracking.sender.send_due().sent == 1

    *_, fold = _announced(world)
    assert fold.text.startswith("3 jobs finished: 3 ✅")
    shown = str(fold.blocks)
    assert all(job in shown for job in waiting) and first not in shown
    assert "Details" not in fold.text + shown  # nothing follows in a thread
    assert world.slack.thread("C1", fold.ts) == []
    assert fold.metadata["event_type"] == JOBS_ENDED
    assert [j["job_id"] for j in fold.metadata["event_payload"]["jobs"]] == waiting
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}


def test_ends_a_poll_finds_together_in_a_quiet_channel_are_told_one_by_one(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    jobs = _seen_running(world, 3)
    _end(world, jobs)

    assert world.tracking.sender.send_due().sent == 3

    told = _announced(world)
    assert len(told) == 3 and [m.metadata["event_type"] for m in told] != [JOBS_ENDED] * 3
    assert all(job in m.text for job, m in zip(jobs, told, strict=True))


def test_more_ends_than_a_digest_holds_that_waited_are_still_a_digest(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    first, *waiting = _seen_running(world, 8)
    _end(world, [first])
    world.tracking.sender.send_due()
    _end(world, waiting)
    world.clock.advance(1.1)  # past the pace (1 s and a 10 ms guard)

    world.tracking.sender.send_due()

    *_, digest = _announced(world)
    assert digest.text.startswith("7 jobs finished")
    assert len(world.slack.thread("C1", digest.ts)) == 1  # its details, in its thread


def test_tracked_ends_that_waited_are_one_reply_in_their_thread_and_the_message_is_edited(
    world: TrackingWorld,
) -> None:
    jobs = _seen_running(world, 3)
    track(world, *jobs)
    world.cycle()
    _end(world, jobs[:1])
    world.tracking.sender.send_due()
    _end(world, jobs[1:])
    world.clock.advance(1.1)  # past the pace (1 s and a 10 ms guard)

    world.tracking.sender.send_due()

    [tracking] = [m for m in world.slack.posts("C1") if m.thread_ts is None]
    replies = world.slack.thread("C1", tracking.ts)
    assert len(replies) == 2  # the first end, then one reply for the two that waited
    assert replies[-1].text == "<@U1> 2 jobs finished: 2 ✅"
    assert all(job in str(replies[-1].blocks) for job in jobs[1:])
    assert "all finished" in world.slack.message("C1", tracking.ts).text


def test_an_incidents_failures_that_waited_are_one_reply_in_its_thread(
    world: TrackingWorld,
) -> None:
    world = world.restart(incident_window_minutes=60, escalate_after_minutes=600)
    world.tracking.service.subscribe(ctx(), Subscribe("all", notify_group=ONCALL),
                                     world.clock())
    world.cycle()
    first, *waiting = _seen_running(world, 4)
    _end(world, [first], "FAILED", error_code="MSS.10001006")
    world.tracking.sender.send_due()  # the incident's message, paging once
    _end(world, waiting, "FAILED", error_code="MSS.10001006")
    world.clock.advance(1.1)  # past the pace (1 s and a 10 ms guard)

    world.tracking.sender.send_due()

    [incident] = _announced(world)
    [reply] = world.slack.thread("C1", incident.ts)
    assert reply.text.splitlines() == [line for line in reply.text.splitlines()
                                       if line.startswith("❌")]
    assert [job for job in waiting if job in reply.text] == waiting
    assert "subteam" not in reply.text  # paged once, by the incident's message
    assert reply.metadata["event_type"] == JOBS_ENDED
    assert "4 2D avatar video jobs failed with `MSS.10001006`" in \
        world.slack.message("C1", incident.ts).text
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}


def test_a_fold_posted_by_a_sender_that_died_before_recording_it_is_not_posted_again(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    first, *waiting = _seen_running(world, 3)
    _end(world, [first])
    world.tracking.sender.send_due()
    _end(world, waiting)
    world.clock.advance(1.1)
    dies_at(world, 1)  # posted the fold, died before recording it; its leases ran out
    posts = len(world.slack.calls_to("chat.postMessage"))

    world.tracking.sender.send_due()

    assert len(world.slack.calls_to("chat.postMessage")) == posts  # found by its marker
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    *_, fold = _announced(world)
    assert all(job in str(fold.blocks) for job in waiting)
