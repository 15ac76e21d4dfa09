"""Wiring and the run loop: :func:`build_tracking` assembles store, service, poller and
sender from settings; :func:`run_worker` polls and sends every ``poll_interval_seconds``.

Any number of processes may run the loop on one database. With a :class:`Leadership`
(the wiring gives one to every process on the real clock) one of them at a time polls
and runs the watches, the others only send (docs/polling.md, "One poller per
database"); without one, every process polls: pollers that see the same change enqueue
one row (UNIQUE dedupe key). Senders lease channels and rows, so each notification is
delivered by one of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..delivery.outbox import Outbox
from ..delivery.sender import Sender
from ..polling.poller import Poller
from ..polling.watermark import PRUNED, PollState
from ..service import TrackingService
from ..store.database import Store
from ..store.leases import KeepAlive
from ..store.presence import Presence, reap
from ..store.retention import prune
from ..watches.escalation import EscalationWatch
from ..watches.quota import QuotaWatch
from ..watches.reports import ReportScheduler
from ..watches.stuck import StuckWatcher
from .leadership import Leadership

log = logging.getLogger(__name__)


#: The shortest wait between two send passes woken by a hold's end (no spinning when
#: a due row cannot be sent, e.g. another process holds its channel).
MIN_WAKE_SECONDS = 0.05


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Tracking:
    """Everything tracking needs, built once per process."""

    store: Store
    outbox: Outbox
    service: TrackingService
    poller: Poller
    sender: Sender
    interval: float
    #: How long sent notifications, closed tracked jobs and seen outcomes are kept.
    retention: timedelta = timedelta(days=7)
    #: How often the retention pass runs (whichever process is due first).
    prune_every: timedelta = timedelta(hours=1)
    reports: ReportScheduler | None = None
    #: ``subscribe stuck`` (bot/tracking/watches/stuck.py); checks every few minutes.
    stuck: StuckWatcher | None = None
    #: Video minutes left, for failure digests (bot/tracking/watches/quota.py).
    quota: QuotaWatch | None = None
    #: Reminders of unanswered pages (bot/tracking/watches/escalation.py).
    escalation: EscalationWatch | None = None
    #: Whether this process is the one that polls (None: it always polls).
    leader: Leadership | None = None
    #: When the last poll cycle started or was skipped (``time.monotonic``).
    polled_at: float = float("-inf")

    def run_once(self) -> None:
        """One poll cycle (if this process is the one that polls), then one send pass
        (what the loop repeats)."""
        self.poll()
        self.sender.send_due()

    def poll(self) -> None:
        """Poll and run the watches if this process is the one that polls (taking the
        poller lease when it is free)."""
        self.polled_at = time.monotonic()
        if self.leader is None or self.leader.lead():
            self.poll_once()

    def poll_if_due(self) -> None:
        """:meth:`poll` if an interval has passed since the last one: called by a long
        send pass between its posts (``Sender.meanwhile``), so a burst that keeps the
        sender busy for many seconds neither delays polling nor a take-over."""
        if time.monotonic() >= self.polled_at + self.interval:
            self.poll()

    def poll_once(self) -> None:
        """Poll, run the watches, and the retention pass when it is due: the work one
        process per database does (docs/polling.md, "One poller per database")."""
        self.poller.poll()
        if self.stuck is not None:
            self.stuck.run_once()
        if self.quota is not None:
            self.quota.run_once(self.outbox.depth())
        if self.reports is not None:
            self.reports.run_due()
        if self.escalation is not None:
            self.escalation.run_once()
        self.prune_if_due()

    def prune_if_due(self) -> None:
        now = self.poller.clock()
        state = PollState(self.store)
        last = state.get(PRUNED)
        if last is not None and now - last < self.prune_every:
            return
        state.advance(PRUNED, now)
        prune(self.store, now=now, retention=self.retention)


def run_worker(tracking: Tracking, stop_event: threading.Event) -> None:
    """Poll and send every ``interval`` seconds until ``stop_event`` is set, and between
    cycles send again as soon as a held notification is due. A set event lets the
    current cycle finish; an unexpected error is logged and the loop goes on."""
    tracking.sender.stopping = stop_event  # a pass pacing its posts stops with the loop
    tracking.sender.meanwhile = tracking.poll_if_due
    log.info("tracking worker started (every %g s)", tracking.interval)
    leader, keeper = tracking.leader, None
    reaper = _reaper(tracking)
    if reaper is not None:
        # Others may now take this process's leases the moment its presence lock is
        # gone, and it takes theirs (store/presence.py).
        tracking.sender.reap = reaper
    if leader is not None:
        try:
            leader.keep()  # alive from the start: senders count this one at once
        except Exception:
            log.warning("could not record this process as alive", exc_info=True)
        keeper = KeepAlive(leader.keep, leader.ttl.total_seconds() / 3,
                           name="tracking-leases").start()
    try:
        while not stop_event.is_set():
            started = time.monotonic()
            try:
                tracking.run_once()
            except Exception:
                log.exception("tracking cycle failed; trying again next cycle")
            # Cycles start every ``interval`` (not ``interval`` after the last one ended),
            # so a job that ends is announced within one interval (README.md, "How
            # fast"). A process that does not poll tries again as soon as the poller's
            # lease runs out, if that comes first: a dead poller is replaced within a
            # lease, not a lease plus an interval.
            until = max(started, tracking.polled_at) + tracking.interval
            chance = _next_chance(leader)
            if chance is not None:
                until = min(until, time.monotonic() + chance + MIN_WAKE_SECONDS)
            send_when_due(tracking.sender, stop_event, until=until, reap=reaper,
                          reap_every=_reap_every(tracking))
    finally:
        if keeper is not None:
            keeper.stop()
        if leader is not None:
            try:
                leader.resign()
            except Exception:
                log.warning("could not give up the poller lease; it runs out by itself",
                            exc_info=True)
    log.info("tracking worker stopped")


def _reaper(tracking: Tracking) -> Callable[[datetime], list[str]] | None:
    """On PostgreSQL with real leases, the worker loop holds a presence lock (taken by
    its leadership's beats) and reaps the dead: the reaper, else None."""
    leader, store = tracking.leader, tracking.store
    if leader is None or store.dialect != "postgresql":
        return None
    if leader.presence is None:
        leader.presence = Presence(store)
    return lambda now: reap(store, now)


def _reap_every(tracking: Tracking) -> float:
    """How often a waiting worker looks for dead ones: every sixth of the lease, like a
    busy pass's top-up (Sender._top_up), and at least every second, however long the
    leases (a death is noticed by its lock, not by its leases)."""
    return min(tracking.sender.policy.lease.total_seconds() / 6, 1.0)


def _next_chance(leader: Leadership | None) -> float | None:
    if leader is None:
        return None
    try:
        return leader.next_chance()
    except Exception:
        log.warning("could not read the poller lease", exc_info=True)
        return None


def send_when_due(sender: Sender, stop_event: threading.Event, *, until: float,
                  reap: Callable[[datetime], list[str]] | None = None,
                  reap_every: float = 0.0) -> None:
    """Until the monotonic time ``until``: whenever a notification held by pacing or
    Retry-After comes due, send it then, not at the next cycle (a reply held one
    second by Slack's pace waits one second, not one poll interval). With ``reap``,
    every ``reap_every`` seconds of the wait it looks for processes that died; when it
    finds one it returns at once, so the loop polls (if the dead one did) and sends its
    channels now, not when its leases would have run out."""
    while not stop_event.is_set():
        left = until - time.monotonic()
        if left <= 0:
            return
        try:
            due = sender.next_due_in()
        except Exception:
            log.warning("could not tell when the next notification is due", exc_info=True)
            due = None
        if due is None or due >= left:
            _wait(stop_event, left, sender, reap, reap_every)
            return
        if _wait(stop_event, max(due, MIN_WAKE_SECONDS), sender, reap, reap_every):
            return
        try:
            sender.send_due()
        except Exception:
            log.exception("send pass failed; trying again next cycle")


def _wait(stop_event: threading.Event, seconds: float, sender: Sender,
          reap: Callable[[datetime], list[str]] | None, reap_every: float) -> bool:
    """Wait ``seconds``, looking for dead processes every ``reap_every`` meanwhile: True
    when the wait ended early, because the process stops or one was found dead."""
    if reap is None or reap_every <= 0:
        return stop_event.wait(seconds)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if stop_event.wait(min(left, reap_every)):
            return True
        try:
            if reap(sender.clock()):
                return True
        except Exception:
            log.warning("could not look for dead processes", exc_info=True)
    return False
