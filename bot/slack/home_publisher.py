"""When a Home tab is published: :class:`HomePublisher` paces ``views.publish``.

``views.publish`` is rate-limited per user and per workspace
(https://docs.slack.dev/reference/methods/views.publish, Tier 4), so opens of one person
coalesce into one publish per ``per_user_interval``, all publishes stay under
``workspace_per_minute``, and a 429's Retry-After is waited out by a timer, never by a
blocked thread. docs/surfaces.md has the whole story.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..domain.messaging import RateLimited
from .messenger import delivery_error, without_retries

log = logging.getLogger(__name__)


class Timer(Protocol):
    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at monotonic time ``when`` (or soon after)."""
        ...


class ThreadTimer:
    """One daemon thread keeping a heap of due calls; each runs on a small pool so a
    slow render never delays the others' timers. (The standard library's
    ``threading.Timer`` would start a thread per call.)"""

    def __init__(self, workers: int = 4) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="home-timer")
        threading.Thread(target=self._loop, name="home-timer", daemon=True).start()

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), fn))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, fn = heapq.heappop(self._heap)
            self._pool.submit(fn)


@dataclass
class _UserState:
    tz: ZoneInfo
    busy: bool = False
    dirty: bool = False
    scheduled: bool = False
    not_before: float = 0.0
    notice: str | None = None


@dataclass
class PublishStats:
    published: int = 0
    coalesced: int = 0
    rate_limited: int = 0
    failed: int = 0
    users: set[str] = field(default_factory=set)


class HomePublisher:
    """``opened(user, tz)`` publishes the user's tab now, or once later.

    Per user: one publish at a time, at most one per ``per_user_interval`` seconds;
    opens arriving meanwhile become one trailing publish. Per workspace: at most
    ``workspace_per_minute`` publishes in any ``workspace_window`` (60) seconds. A 429
    holds that user until its Retry-After, then publishes once. ``clock`` is monotonic
    seconds.
    """

    def __init__(
        self,
        render: Callable[[str, ZoneInfo, str | None], dict[str, Any]],
        publish: Callable[[str, dict[str, Any]], None],
        *,
        timer: Timer,
        clock: Callable[[], float] = time.monotonic,
        per_user_interval: float = 10.0,
        workspace_per_minute: int = 90,
        workspace_window: float = 60.0,
    ) -> None:
        self.render = render
        self.publish = publish
        self.timer = timer
        self.clock = clock
        self.per_user_interval = per_user_interval
        self.workspace_per_minute = workspace_per_minute
        self.workspace_window = workspace_window
        self.stats = PublishStats()
        self._users: dict[str, _UserState] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def opened(self, user_id: str, tz: ZoneInfo, *, notice: str | None = None) -> None:
        """The user opened (or needs a fresh) Home tab; ``notice`` is shown on top once."""
        with self._lock:
            state = self._users.get(user_id)
            if state is None:
                state = self._users[user_id] = _UserState(tz)
            state.tz = tz
            if notice:
                state.notice = notice
        self._attempt(user_id, opened=True)

    def _attempt(self, user_id: str, *, opened: bool) -> None:
        now = self.clock()
        with self._lock:
            state = self._users[user_id]
            if not opened:
                state.scheduled = False
            if state.busy or state.scheduled:
                state.dirty = state.dirty or state.busy
                self.stats.coalesced += 1
                return
            wait = max(state.not_before - now, self._workspace_wait(now))
            if wait > 0:
                state.scheduled = True
                self.timer.call_at(now + wait, lambda: self._attempt(user_id, opened=False))
                self.stats.coalesced += opened
                return
            state.busy = True
            self._recent.append(now)
            tz, notice, state.notice = state.tz, state.notice, None
        self._publish_now(user_id, tz, notice)

    def _publish_now(self, user_id: str, tz: ZoneInfo, notice: str | None) -> None:
        retry: float | None = None
        try:
            self.publish(user_id, self.render(user_id, tz, notice))
        except RateLimited as e:
            retry = e.retry_after
            log.info("views.publish rate-limited for %s: again in %g s", user_id, retry)
        except Exception:
            log.exception("Home tab of %s not published", user_id)
            with self._lock:
                self.stats.failed += 1
        now = self.clock()
        with self._lock:
            state = self._users[user_id]
            state.busy = False
            if retry is not None:
                self.stats.rate_limited += 1
                state.not_before = now + max(retry, self.per_user_interval)
                state.notice = state.notice or notice
                state.dirty = True
            else:
                self.stats.published += 1
                self.stats.users.add(user_id)
                state.not_before = now + self.per_user_interval
            if state.dirty and not state.scheduled:
                state.dirty = False
                state.scheduled = True
                self.timer.call_at(state.not_before,
                                   lambda: self._attempt(user_id, opened=False))

    def _workspace_wait(self, now: float) -> float:
        while self._recent and now - self._recent[0] >= self.workspace_window:
            self._recent.popleft()
        if len(self._recent) < self.workspace_per_minute:
            return 0.0
        return self._recent[0] + self.workspace_window - now


def slack_publish(client: WebClient) -> Callable[[str, dict[str, Any]], None]:
    """``views.publish`` with a 429 turned into :class:`RateLimited` (no retry handlers:
    the publisher's timer waits, not the thread)."""
    plain = without_retries(client)

    def publish(user_id: str, view: dict[str, Any]) -> None:
        try:
            plain.views_publish(user_id=user_id, view=view)
        except SlackApiError as e:
            error = delivery_error("views.publish", e)
            if isinstance(error, RateLimited):
                raise error from e
            raise

    return publish
