"""Steps the delivery tests share: tracked jobs that ended, a burst of them, a row built
when it is delivered, a sender that dies mid-pass, and what the fake Slack was asked
and shown."""

from __future__ import annotations

import pytest

from bot.views.notifications import Message
from bot.wiring.tracking import build_tracking
from tests.fakes.slack import Message as Posted
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import CrashAfter, track


def ended(world: TrackingWorld, n: int, state: str = "SUCCEED", channel: str = "C1",
          **job: str) -> list[str]:
    """``n`` tracked jobs that ended, their notifications enqueued (not yet sent)."""
    ids = [world.running(**job) for _ in range(n)]
    track(world, *ids, channel=channel)
    for job_id in ids:
        world.sim.set_state(job_id, state)
    world.tracking.poller.poll()
    return ids


def ended_burst(world: TrackingWorld, n: int = 6) -> list[str]:
    """``n`` tracked jobs that succeeded at once, their notifications enqueued: a digest."""
    ids = [world.running() for _ in range(n)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    return ids


def note(world: TrackingWorld, message: Message, key: str = "note:1",
         channel: str = "C1") -> None:
    """A row of kind ``note`` whose message is ``message``, built when it is delivered."""
    built = getattr(world, "notes", {})
    built[key] = message
    world.notes = built  # type: ignore[attr-defined]
    world.tracking.sender.rows.renderers["note"] = lambda row: built[row.dedupe_key]
    with world.tracking.store.begin() as conn:
        world.tracking.outbox.enqueue(conn, kind="note", channel=channel, dedupe_key=key,
                                      payload={}, now=world.clock())


def dies_at(world: TrackingWorld, n: int) -> None:
    """A sender that dies after its ``n``-th post, before recording it; then its leases
    run out."""
    dying = build_tracking(world.settings, world.client, CrashAfter(world.messenger, n),
                           clock=world.clock, sleep=world.clock.sleep, owner="dying")
    with pytest.raises(SystemExit):
        dying.sender.send_due()
    dying.store.close()
    world.clock.advance(120)  # its leases have run out


def marked(world: TrackingWorld) -> list[tuple[str, Posted]]:
    """(marker, message) of each post with a marker, in order."""
    return [(m.marker, m) for m in world.slack.posts()
            if m.metadata]


def look_ups(world: TrackingWorld) -> int:
    """Marker look-ups the sender made in Slack."""
    return sum(len(world.slack.calls_to(m))
               for m in ("conversations.history", "conversations.replies"))
