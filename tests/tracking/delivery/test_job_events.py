"""Every notification carries its job end as Slack message metadata of a documented
event type (docs/events.md), with the exactly-once marker inside it: what other apps
and workflows read (``message_metadata_posted``), and what the sender still finds after
a crash."""

from __future__ import annotations

from bot.domain.job_events import JOB_ENDED, JOBS_ENDED, MARKER_EVENT, JobEnded, JobsEnded
from bot.tracking.delivery.outbox import subscription_key, track_key
from tests.fixtures.tracking import PROMO_VIDEO, RENDER_FAILURE, TrackingWorld
from tests.tracking.helpers import subscribe, track, tracking_message


def _events(world: TrackingWorld, kind: str) -> list[dict]:
    return [m.metadata["event_payload"] for m in world.slack.posts()
            if m.metadata and m.metadata["event_type"] == kind]


def test_a_tracked_failure_tells_its_end_in_metadata(world: TrackingWorld) -> None:
    job = world.running(asset_name="Quarterly update", job_type="2D_DIGITAL_HUMAN_VIDEO")
    track(world, job)
    world.sim.set_state(job, "FAILED", **RENDER_FAILURE)
    world.cycle()

    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert reply.metadata["event_type"] == JOB_ENDED
    event = JobEnded.model_validate(reply.metadata["event_payload"])
    assert (event.job_id, event.state, event.job_type, event.asset_name, event.error_code) == (
        job, "FAILED", "2D_DIGITAL_HUMAN_VIDEO", "Quarterly update", "MSS.00000004")
    assert event.ended_at is not None and event.ended_at.endswith("Z")
    # The marker rides inside, and the sender's look-up after a crash finds it there.
    assert event.videojobs_key == track_key("C1", job, "FAILED")
    assert world.messenger.marked("C1", thread_ts=reply.thread_ts) == {
        event.videojobs_key: reply.ts}


def test_a_channel_announcement_carries_it_too(world: TrackingWorld) -> None:
    subscribe(world, "all", channel="C2")
    world.clock.advance(1)
    job = world.running(**PROMO_VIDEO)
    world.cycle()  # discovered, watched
    world.sim.set_state(job, "SUCCEED")
    world.cycle()

    [told] = [m for m in world.slack.posts("C2") if m.metadata]
    event = JobEnded.model_validate(told.metadata["event_payload"])
    assert told.metadata["event_type"] == JOB_ENDED
    assert (event.state, event.duration, event.error_code) == ("SUCCEED", 42.0, "")
    assert event.videojobs_key == subscription_key("C2", job, "SUCCEED")


def test_a_digest_lists_each_end_once_in_its_details(world: TrackingWorld) -> None:
    jobs = [world.running() for _ in range(8)]  # more than the digest threshold (5)
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()

    listed = [JobEnded.model_validate(item).job_id for payload in _events(world, JOBS_ENDED)
              for item in JobsEnded.model_validate(payload).jobs]
    assert sorted(listed) == sorted(jobs)
    assert _events(world, JOB_ENDED) == []  # the summary names no single job
    assert len(_events(world, MARKER_EVENT)) == 1  # it carries the marker alone


def test_a_message_sent_in_parts_tells_the_ends_once(world: TrackingWorld) -> None:
    world.slack.block_text_limit = 700  # Slack stricter than the sender's packing
    jobs = [world.running() for _ in range(8)]
    track(world, *jobs)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    for _ in range(10):  # the parts go a second apart (Slack's pace)
        world.cycle()
        world.clock.advance(10)

    parts = [m for m in world.slack.thread("C1", tracking_message(world).ts)
             if m.marker and "#0/" in m.marker]
    assert len(parts) > 1  # the details were refused whole and sent in parts
    listed = [item["job_id"] for payload in _events(world, JOBS_ENDED)
              for item in payload["jobs"]]
    assert sorted(listed) == sorted(jobs)  # with the first part only


def test_a_running_job_is_not_an_end() -> None:
    from bot.domain.job_events import job_ended, metadata
    from bot.metastudio.models import Job

    assert job_ended(Job(job_id="j", state="PROCESSING")) is None
    assert metadata(None, "k") == {"event_type": MARKER_EVENT, "event_payload": {"key": "k"}}
    assert metadata(None, None) is None
