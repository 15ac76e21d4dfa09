"""Small steps the tracking scenarios share."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.commands.types import Context, Subscribe, Track
from bot.domain.reply import Reply
from tests.fakes.slack import Message
from tests.fixtures.tracking import TrackingWorld


def ctx(channel: str = "C1", user: str = "U1") -> Context:
    return Context(user_id=user, channel_id=channel, tz=ZoneInfo("UTC"))


def track(world: TrackingWorld, *job_ids: str, channel: str = "C1") -> Reply:
    return world.tracking.service.track(ctx(channel), Track(job_ids), world.clock())


def subscribe(world: TrackingWorld, outcome: str = "failed", channel: str = "C1",
              **filters: str) -> Reply:
    return world.tracking.service.subscribe(ctx(channel), Subscribe(outcome, **filters),
                                            world.clock())


def tracking_message(world: TrackingWorld, channel: str = "C1") -> Message:
    """The channel's first top-level message."""
    return next(m for m in world.slack.posts(channel) if m.thread_ts is None)


def asset(world: TrackingWorld, job_id: str) -> dict[str, Any]:
    """The job's ``output_asset_config`` as MetaStudio shows it now (cover, preview)."""
    return world.sim.jobs[job_id]["output_asset_config"]


def block_types(message: Message) -> list[str]:
    return [b["type"] for b in message.blocks or []]


class CrashAfter:
    """Posts for real; the ``n``-th post then kills the sender before it records it."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.left = inner, n

    def post(self, channel: str, **kw: Any) -> str:
        ts = self.inner.post(channel, **kw)
        self.left -= 1
        if self.left == 0:
            raise SystemExit("killed after posting")
        return str(ts)

    def update(self, channel: str, ts: str, **kw: Any) -> None:
        self.inner.update(channel, ts, **kw)

    def marked(self, channel: str, **kw: Any) -> dict[str, str]:
        return dict(self.inner.marked(channel, **kw))


def jobs_told(message: Any) -> list[str]:
    """The job ends a message tells, from its metadata event (one job's end, or the
    several a digest's details or a fold name): its text may name other jobs too (an
    incident's message, edited, names its latest)."""
    payload = (message.metadata or {}).get("event_payload") or {}
    if "jobs" in payload:
        return [job["job_id"] for job in payload["jobs"]]
    return [payload["job_id"]] if "job_id" in payload else []
