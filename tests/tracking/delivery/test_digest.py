"""A burst of endings becomes one digest per destination: the jobs of one tracking
message become one reply in its thread, addressed to who tracked them, with the details
following it there (docs/delivery.md, "Who hears what")."""

from __future__ import annotations

from bot.domain.messaging import RateLimited
from bot.views import notifications as messages
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import track, tracking_message

#: Enough jobs for two detail replies in the digest's thread.
BURST = messages.DIGEST_CHUNK + 2


def _burst(world: TrackingWorld) -> list[str]:
    ids = [world.running() for _ in range(BURST)]
    track(world, *ids)
    for i, job in enumerate(ids):
        world.sim.set_state(job, "FAILED" if i % 4 == 0 else "SUCCEED")
    return ids


def _digests(world: TrackingWorld):
    return [m for m in world.slack.thread("C1", tracking_message(world).ts)
            if "jobs finished" in m.text]


def _details(world: TrackingWorld):
    return [m for m in world.slack.thread("C1", tracking_message(world).ts)
            if m.text.startswith("Details of")]


def test_a_burst_becomes_one_digest_in_its_tracking_thread(world: TrackingWorld) -> None:
    ids = _burst(world)
    world.cycle()
    [digest] = _digests(world)
    failed = len(range(0, BURST, 4))
    # Addressed to who tracked the jobs, as each single reply would have been.
    assert digest.text == f"<@U1> {BURST} jobs finished: {BURST - failed} ✅ {failed} ❌"
    assert digest.reply_broadcast  # it holds failures: shown in the channel, once
    details = _details(world)
    assert len(details) == 2  # DIGEST_CHUNK jobs a message
    assert all(job in str([d.blocks for d in details]) for job in ids)
    thread = world.slack.thread("C1", tracking_message(world).ts)
    assert thread == [digest, *details]  # the summary first, then its details
    assert [m for m in world.slack.posts("C1") if m.thread_ts is None] == \
        [tracking_message(world)]  # nothing outside the thread but the tracking message
    assert "all finished" in tracking_message(world).text
    rows = [r for r in world.tracking.outbox.rows() if r.kind == "track"]
    assert len(rows) == BURST and {(r.status, r.posted_ts) for r in rows} == {("sent", digest.ts)}


def test_at_the_threshold_jobs_are_told_one_by_one(world: TrackingWorld) -> None:
    ids = [world.running() for _ in range(5)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()
    assert _digests(world) == []
    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 5


class _RateLimitedAfter:
    """Lets ``n`` posts through, then answers 429."""

    def __init__(self, inner, n: int) -> None:
        self.inner, self.left = inner, n

    def post(self, channel, **kw):
        if self.left == 0:
            raise RateLimited("429", retry_after=3)
        self.left -= 1
        return self.inner.post(channel, **kw)

    def update(self, channel, ts, **kw):
        self.inner.update(channel, ts, **kw)

    def marked(self, channel, **kw):
        return self.inner.marked(channel, **kw)


def test_a_digest_interrupted_by_a_rate_limit_resumes_without_repeating(
    world: TrackingWorld,
) -> None:
    _burst(world)
    world.tracking.poller.poll()
    limited = build_tracking(world.settings, world.client,
                             _RateLimitedAfter(world.messenger, 2), clock=world.clock,
                             sleep=world.clock.sleep)
    limited.sender.send_due()  # the summary and the first details, then 429
    assert len(_digests(world)) == 1
    assert len(_details(world)) == 1
    assert "all finished" not in tracking_message(world).text  # replies still owed

    world.clock.advance(3)
    world.cycle()
    assert len(_digests(world)) == 1
    assert len(_details(world)) == 2
    assert "all finished" in tracking_message(world).text
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    limited.store.close()
