"""The Home tab publisher's pacing, on an injected clock and a timer the test runs:
one publish at a time per user, opens in between coalesced, a per-user interval, a
workspace-wide budget, and a 429's Retry-After honoured once. Plus the stuck line and
the view's limits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.messaging import RateLimited
from bot.domain.records import TrackedJob
from bot.metastudio.models import Job
from bot.slack.home import simple_stuck
from bot.slack.home_publisher import HomePublisher
from bot.views.home import HomeData, home_view

UTC_ZONE = ZoneInfo("UTC")


class ManualTimer:
    """Calls wait until the test runs them; ``run_due(now)`` runs what is due."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        self.pending.append((when, fn))

    def run_due(self, now: float) -> int:
        due = [(w, f) for w, f in self.pending if w <= now]
        self.pending = [(w, f) for w, f in self.pending if w > now]
        for _, fn in sorted(due, key=lambda p: p[0]):
            fn()
        return len(due)


class World:
    def __init__(self, **pacing: Any) -> None:
        self.now = 0.0
        self.timer = ManualTimer()
        self.published: list[tuple[str, float, str | None]] = []
        self.refuse: list[float] = []  # Retry-After values for the next publishes
        self.renders = 0
        self.publisher = HomePublisher(self.render, self.publish, timer=self.timer,
                                       clock=lambda: self.now, **pacing)

    def render(self, user: str, tz: ZoneInfo, notice: str | None) -> dict[str, Any]:
        self.renders += 1
        return {"type": "home", "blocks": [], "notice": notice}

    def publish(self, user: str, view: dict[str, Any]) -> None:
        if self.refuse:
            raise RateLimited("views.publish", retry_after=self.refuse.pop(0))
        self.published.append((user, self.now, view["notice"]))

    def at(self, now: float) -> None:
        self.now = now
        self.timer.run_due(now)


def test_one_open_publishes_at_once():
    world = World()
    world.publisher.opened("U1", UTC_ZONE)
    assert world.published == [("U1", 0.0, None)]
    assert world.timer.pending == []


def test_opens_within_the_interval_become_one_trailing_publish():
    world = World(per_user_interval=10)
    world.publisher.opened("U1", UTC_ZONE)
    for second in (1, 2, 5, 9):
        world.at(second)
        world.publisher.opened("U1", UTC_ZONE)
    assert len(world.published) == 1
    world.at(9.99)
    assert len(world.published) == 1
    world.at(10)
    assert [t for _, t, _ in world.published] == [0.0, 10.0]
    world.at(100)
    assert len(world.published) == 2  # nothing more was asked for


def test_opens_while_a_render_is_running_make_one_more_publish():
    release, started = threading.Event(), threading.Event()
    world = World(per_user_interval=10)
    render = world.render

    def slow_render(user: str, tz: ZoneInfo, notice: str | None) -> dict[str, Any]:
        started.set()
        release.wait(10)
        return render(user, tz, notice)

    world.publisher.render = slow_render
    first = threading.Thread(target=world.publisher.opened, args=("U1", UTC_ZONE))
    first.start()
    assert started.wait(10)
    for _ in range(20):  # a person clicking around while the first render runs
        world.publisher.opened("U1", UTC_ZONE)
    release.set()
    first.join(10)
    assert world.renders == 1
    world.at(10)
    assert world.renders == 2 and len(world.published) == 2
    assert world.publisher.stats.coalesced == 20


def test_a_429_is_honoured_and_the_tab_published_once_after_it():
    world = World(per_user_interval=5)
    world.refuse = [30.0]
    world.publisher.opened("U1", UTC_ZONE, notice="Tracking `j1`.")
    assert world.published == []
    world.at(29)
    world.publisher.opened("U1", UTC_ZONE)
    assert world.published == []  # still inside Retry-After
    world.at(30)
    assert world.published == [("U1", 30.0, "Tracking `j1`.")]  # the notice survived
    world.at(200)
    assert len(world.published) == 1
    assert world.publisher.stats.rate_limited == 1


def test_a_429_alone_is_retried_once_after_retry_after():
    world = World(per_user_interval=5)
    world.refuse = [30.0]
    world.publisher.opened("U1", UTC_ZONE)
    world.at(29.9)
    assert world.published == []
    world.at(30)
    assert world.published == [("U1", 30.0, None)]
    world.at(500)
    assert len(world.published) == 1 and world.timer.pending == []


def test_many_people_at_once_stay_inside_the_workspace_budget():
    world = World(workspace_per_minute=50, per_user_interval=10)
    for n in range(120):
        world.publisher.opened(f"U{n}", UTC_ZONE)
    assert len(world.published) == 50
    world.at(59.9)
    assert len(world.published) == 50
    world.at(60)
    assert len(world.published) == 100
    world.at(120)
    assert len(world.published) == 120
    # Never more than 50 in any 60 seconds, and each person once.
    times = sorted(t for _, t, _ in world.published)
    assert all(sum(1 for u in times if t <= u < t + 60) <= 50 for t in times)
    assert len({u for u, _, _ in world.published}) == 120


def test_a_failing_render_is_logged_and_not_retried_in_a_loop(caplog):
    world = World()

    def broken(user: str, tz: ZoneInfo, notice: str | None) -> dict[str, Any]:
        raise RuntimeError("boom")

    world.publisher.render = broken
    world.publisher.opened("U1", UTC_ZONE)
    world.at(1000)
    assert world.published == [] and world.publisher.stats.failed == 1
    assert world.timer.pending == [] and "not published" in caplog.text


def job(job_id: str, state: str, created: datetime) -> Job:
    return Job.model_validate({"job_id": job_id, "state": state,
                               "create_time": created.strftime("%Y-%m-%dT%H:%M:%SZ")})


def test_stuck_is_unfinished_and_older_than_the_line():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    jobs = [job("a", "PROCESSING", now - timedelta(hours=3)),
            job("b", "WAITING", now - timedelta(hours=5)),
            job("c", "PROCESSING", now - timedelta(hours=1)),
            job("d", "SUCCEED", now - timedelta(hours=9))]
    assert [j.job_id for j in simple_stuck(jobs, now)] == ["b", "a"]


def test_a_home_view_never_exceeds_100_blocks():
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    stuck = [job(f"s{n}", "WAITING", now - timedelta(days=1)) for n in range(300)]
    tracked = [(TrackedJob(id=n, channel="C1", job_id=f"t{n}", message_ts="1.1",
                           requested_by="U1", last_state="WAITING", job_created_at=None,
                           created_at=now, paused_reason=None, closed=False), None)
               for n in range(120)]
    view = home_view(HomeData(user_id="U1", now=now, tz=UTC_ZONE, stuck=stuck,
                              tracked=tracked, notice="<!channel> hi"))
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert "<!channel>" not in str(view)
