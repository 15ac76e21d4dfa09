"""A row in doubt (a sender posted it, then died before recording it) is looked up by
its marker in the channel since the row was written: found, it is neither built nor
posted again, and the pass goes on with the other channels."""

from __future__ import annotations

from datetime import timedelta

from bot.tracking.delivery.sender import SendResult
from bot.tracking.store.tables import outbox_channels
from bot.views.notifications import Message
from tests.fixtures.tracking import TrackingWorld, begun_then_died
from tests.tracking.delivery.helpers import dies_at, ended, look_ups


def test_a_built_row_found_by_its_marker_is_not_built_or_posted_again(
    world: TrackingWorld,
) -> None:
    world.tracking.sender.rows.renderers["note"] = lambda row: Message("hello", [])
    posted = world.tracking.sender.messenger.post("C1", text="hello", marker="note:1")
    with world.tracking.store.begin() as conn:
        world.tracking.outbox.enqueue(conn, kind="note", channel="C1", dedupe_key="note:1",
                                      payload={}, now=world.clock())
    built: list[object] = []
    world.tracking.sender.rows.renderers["note"] = lambda row: built.append(row) or Message("x", [])
    outbox = world.tracking.outbox
    begun_then_died(outbox, "dead", now=world.clock(), lease=timedelta(seconds=1))
    world.clock.advance(2)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert built == [] and len(world.slack.calls_to("chat.postMessage")) == 1
    [row] = outbox.rows()
    assert (row.status, row.posted_ts) == ("sent", posted)
    # Looked for in the channel since the row was written, not in its whole history.
    [look_up] = world.slack.calls_to("conversations.history")
    assert look_up.args["oldest"] == f"{row.created_at.timestamp():.6f}"


def test_a_channel_outcome_in_doubt_is_looked_up_since_its_row_was_written(
    world: TrackingWorld,
) -> None:
    payload = {"job": {"job_id": "job-1", "state": "FAILED"}}
    posted = world.tracking.sender.messenger.post("C1", text="failed", marker="sub:C1:x")
    outbox = world.tracking.outbox
    with world.tracking.store.begin() as conn:
        outbox.enqueue(conn, kind="sub", channel="C1", dedupe_key="sub:C1:x",
                       payload=payload, now=world.clock())
    begun_then_died(outbox, "dead", now=world.clock(), lease=timedelta(seconds=1))
    world.clock.advance(2)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert len(world.slack.calls_to("chat.postMessage")) == 1  # found, not posted again
    [row] = outbox.rows()
    assert (row.status, row.posted_ts) == ("sent", posted)
    [look_up] = world.slack.calls_to("conversations.history")
    assert look_up.args["oldest"] == f"{row.created_at.timestamp():.6f}"
    # Nothing was posted in this pass, so the channel is let go with no pacing hold.
    with world.tracking.store.begin() as conn:
        [channel] = conn.execute(outbox_channels.select()).all()
    assert (channel.lease_owner, channel.hold_until) == (None, None)


def test_a_row_found_by_its_marker_does_not_end_the_pass_for_other_channels(
    world: TrackingWorld,
) -> None:
    ended(world, 1, channel="C1")
    ended(world, 1, channel="C2")
    outbox = world.tracking.outbox
    # C1's row was posted by a sender that died before recording it.
    [c1] = [r for r in outbox.rows() if r.channel == "C1"]
    begun_then_died(outbox, "dead", now=world.clock(), lease=timedelta(seconds=1),
                    channel="C1")
    world.tracking.sender.messenger.post("C1", text="posted before the crash",
                                         thread_ts=c1.payload["thread_ts"],
                                         marker=c1.dedupe_key)
    world.clock.advance(2)
    posts = len(world.slack.calls_to("chat.postMessage"))
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert len(world.slack.calls_to("chat.postMessage")) == posts + 1  # C2's only
    assert {r.status for r in outbox.rows()} == {"sent"}


def test_a_dead_senders_rows_it_never_began_are_folded_and_posted_without_look_ups(
    world: TrackingWorld,
) -> None:
    # The dead sender (digests off) posted the first of eight ends and died before
    # recording it; the other seven waited for their turn in its claim.
    world = world.restart(digest_threshold=100)
    ended(world, 8)
    dies_at(world, 1)
    tracking_posts = len(world.slack.calls_to("chat.postMessage"))
    world = world.restart(digest_threshold=5)

    assert world.tracking.sender.send_due().sent == 2  # the one found, and one digest

    # Only the begun row was looked for; the seven were folded into one digest.
    assert look_ups(world) == 1
    digests = [r for r in world.tracking.outbox.rows() if r.kind == "digest"]
    assert [d.payload["count"] for d in digests] == [7]
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    # The digest's summary and its details thread; the found row was not posted again.
    assert len(world.slack.calls_to("chat.postMessage")) == tracking_posts + 2


def test_a_row_in_doubt_whose_look_up_is_rate_limited_stays_in_doubt(
    world: TrackingWorld,
) -> None:
    ended(world, 1)
    outbox = world.tracking.outbox
    begun_then_died(outbox, "dead", now=world.clock(), lease=timedelta(seconds=1))
    world.clock.advance(2)
    for method in ("conversations.history", "conversations.replies"):
        world.slack.rate_limit(method, retry_after=5)
    posts = len(world.slack.calls_to("chat.postMessage"))

    assert world.tracking.sender.send_due() == SendResult(retried=1)

    # Nothing of this pass reached Slack, but the dead sender's post may have: the row
    # is still looked for before it is posted.
    [row] = outbox.rows()
    assert (row.status, row.attempts, row.in_doubt) == ("pending", 1, True)
    world.clock.advance(6)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert look_ups(world) == 2
    assert len(world.slack.calls_to("chat.postMessage")) == posts + 1
