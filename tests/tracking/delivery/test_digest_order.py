"""Where a digest stands among a channel's rows and what is folded into it: a digest
still owed from before a new burst goes first and is never folded into the new one; a
digest stands where its oldest member stood, so a note written after a burst follows
its digest; a row in doubt is never folded; and a burst whose lease was lost while
folding is left to its new owner while the rest goes on."""

from __future__ import annotations

from typing import Any

from pytest_mock import MockerFixture

from bot.tracking.delivery.sender import SendResult
from bot.tracking.store.tables import outbox as outbox_table
from bot.views.notifications import Message
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import dies_at, ended_burst, marked, note
from tests.tracking.helpers import track


def _digest_owed_then_a_new_burst(world: TrackingWorld,
                                  second: int = 6) -> tuple[list[str], list[str]]:
    """A burst whose digest Slack rate-limited (still owed, its hold over), then a second
    burst of ``second`` jobs."""
    first = ended_burst(world)
    world.slack.rate_limit("chat.postMessage", retry_after=5)
    assert world.tracking.sender.send_due() == SendResult(retried=1)
    world.clock.advance(5)
    return first, ended_burst(world, second) if second else []


def test_a_digest_owed_from_before_a_new_burst_goes_first_and_is_never_folded(
    world: TrackingWorld,
) -> None:
    first, second = _digest_owed_then_a_new_burst(world)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    [(_, summary1), (_, details1), (_, summary2), (_, details2)] = marked(world)
    assert summary1.text == summary2.text == "<@U1> 6 jobs finished: 6 ✅"
    assert all(job in str(details1.blocks) and job not in str(details2.blocks)
               for job in first)
    assert all(job in str(details2.blocks) for job in second)


def test_a_note_written_after_a_burst_is_posted_after_the_bursts_digest(
    world: TrackingWorld,
) -> None:
    ended_burst(world)
    note(world, Message(text="a later note"))
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert [m.text for _, m in marked(world)] == [
        "<@U1> 6 jobs finished: 6 ✅", "Details of 6 jobs", "a later note"]


def test_a_digest_stands_where_its_oldest_member_stood(world: TrackingWorld) -> None:
    # Queued oldest first: a digest still owed, one job of a new burst, a note, the
    # burst's other five jobs. The burst's digest goes out in its first job's place.
    _digest_owed_then_a_new_burst(world, second=0)
    ids = [world.running() for _ in range(6)]
    track(world, *ids)
    world.sim.set_state(ids[0], "SUCCEED")
    world.tracking.poller.poll()
    note(world, Message(text="a note written meanwhile"))
    for job in ids[1:]:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    texts = [m.text for _, m in marked(world)]
    assert texts == ["<@U1> 6 jobs finished: 6 ✅", "Details of 6 jobs"] * 2 + [
        "a note written meanwhile"]


def test_a_row_in_doubt_is_never_folded_into_a_new_bursts_digest(world: TrackingWorld) -> None:
    # Its post may already be in the channel: folding it would announce its job twice.
    [alone] = ended_burst(world, 1)
    dies_at(world, 1)  # posted, not recorded: in doubt
    burst = ended_burst(world)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    [(key, own), (_, summary), (_, details)] = marked(world)
    assert alone in own.text and key.startswith("track:")
    assert summary.text == "<@U1> 6 jobs finished: 6 ✅"
    assert all(job in str(details.blocks) for job in burst) and alone not in str(details.blocks)


def test_a_burst_whose_lease_was_lost_while_folding_is_left_and_the_rest_goes_on(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    first, second = _digest_owed_then_a_new_burst(world)
    outbox = world.tracking.outbox
    form_digest = outbox.form_digest

    def taken_while_folding(owner: str, members: list[Any], **kw: Any) -> Any:
        with world.tracking.store.begin() as conn:  # another sender took one meanwhile
            conn.execute(outbox_table.update().where(outbox_table.c.id == members[0].id)
                         .values(lease_owner="B"))
        return form_digest(owner, members, **kw)

    mocker.patch.object(outbox, "form_digest", side_effect=taken_while_folding)
    assert world.tracking.sender.send_due() == SendResult(sent=1)  # the owed digest
    [(_, _), (_, details)] = marked(world)
    assert all(job in str(details.blocks) for job in first)
    burst = [r for r in outbox.rows() if r.kind == "track" and r.digest_id is None]
    assert len(burst) == len(second)
    assert all(r.status == "pending" and r.posted_ts is None for r in burst)
