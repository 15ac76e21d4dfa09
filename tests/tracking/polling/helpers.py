"""Steps the polling tests share: the parameters of a recorded request, what a channel
was told, a poll whose reported requests are checked against the simulator's, a client
that ignores ``job_ids`` for good, jobs tracked with their creation time, and answers
without ``lastupdate_time``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.metastudio.client import Found, MetaStudioClient
from bot.metastudio.paging import Page
from bot.tracking.polling.poller import Poller
from tests.fixtures.tracking import TrackingWorld


def param(request: Any, name: str) -> str | None:
    return next((v for k, v in request.params if k == name), None)


def params(request: Any) -> dict[str, str]:
    return dict(request.params)


def top_level(world: TrackingWorld, channel: str = "C1") -> list[str]:
    return [m.text for m in world.slack.posts(channel) if m.thread_ts is None]


def announcements(world: TrackingWorld, channel: str = "C1") -> list[str]:
    """Announcements: the channel's top-level posts after the subscription's confirmation."""
    return top_level(world, channel)[1:]


def checked_poll(world: TrackingWorld, poller: Poller | None = None) -> Any:
    """One poll, whose reported requests are the requests MetaStudio received."""
    mark = world.sim.request_count("")
    result = (poller or world.tracking.poller).poll()
    assert result.error is None
    assert result.upstream_calls == world.sim.request_count("") - mark
    return result


def sweeps_only(world: TrackingWorld) -> None:
    """The server ignores ``job_ids`` and the client has decided so already."""
    world.sim.ignore_job_ids = True
    for _ in range(3):
        world.tracking.poller.source.job_ids.record(False)  # type: ignore[attr-defined]


def track_created(world: TrackingWorld, ids: Sequence[str], channel: str = "C1") -> None:
    world.tracking.store.add_tracked(
        channel, [(i, "PROCESSING", world.sim.store.get(i).create_time) for i in ids],
        message_ts="1.1", requested_by="U1", now=world.clock())


class NoUpdateTimes:
    """The real client, with answers that leave out ``lastupdate_time`` (it is not in
    every version of the API's answers)."""

    def __init__(self, inner: MetaStudioClient) -> None:
        self.inner = inner

    def find_job(self, job_id: str, *, job_type: str | None = None) -> Found:
        found = self.inner.find_job(job_id, job_type=job_type)
        job = found.job.model_copy(update={"lastupdate_time": None}) if found.job else None
        return Found(job, found.requests)

    def scan(self, query: Any, **kw: Any) -> Any:
        for page in self.inner.scan(query, **kw):
            yield Page(tuple(j.model_copy(update={"lastupdate_time": None}) for j in page.jobs),
                       page.count, page.request_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
