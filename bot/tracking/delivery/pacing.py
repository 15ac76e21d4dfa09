"""Per-channel pacing: a token bucket per channel, so posts go out at Slack's rate
instead of being refused with 429 (``chat.postMessage`` allows about one message per
second per channel, https://api.slack.com/methods/chat.postMessage#rate_limiting).

The sender that holds a channel's lease owns its bucket; when it lets go of the channel
it records when the next post may go (``outbox_channels.hold_until``) so the next owner
waits as long. Written by hand: the bucket is a few lines and must run on the sender's
injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Added to each post's share of time, for clocks that disagree by a few milliseconds
#: (the sender counts from Slack's answer to the previous post, see notifier.py).
GUARD_SECONDS = 0.01


@dataclass
class _Bucket:
    tokens: float
    at: float


class ChannelPacer:
    """``rate`` posts a second per channel, at most ``burst`` at once. Times are seconds
    on any monotonic scale (the sender passes its clock's timestamps)."""

    def __init__(self, rate: float, *, burst: int = 1, guard: float = GUARD_SECONDS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.period = 1.0 / rate + guard
        self.burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, channel: str, now: float) -> _Bucket:
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = _Bucket(float(self.burst), now)
        elif now > bucket.at:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.period)
            bucket.at = now
        return bucket

    def ready_at(self, channel: str, now: float) -> float:
        """When ``channel`` may have its next post (``now`` if it may now)."""
        bucket = self._bucket(channel, now)
        if bucket.tokens >= 1:
            return now
        return now + (1 - bucket.tokens) * self.period

    def take(self, channel: str, now: float) -> None:
        """A post to ``channel`` was made (``now``: when Slack answered it)."""
        bucket = self._bucket(channel, now)
        bucket.tokens -= 1  # may go below zero if the caller did not wait: it pays later

    def next_free(self, channel: str, now: float) -> float | None:
        """When the bucket will let a post through again, None if it does now."""
        at = self.ready_at(channel, now)
        return at if at > now else None
