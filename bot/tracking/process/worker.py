"""Wiring and the run loop: :func:`build_tracking` assembles store, service, poller and
sender from settings; :func:`run_worker` polls and sends every ``poll_interval_seconds``.

Any number of processes may run the loop on one database: pollers that see the same
change enqueue one row (UNIQUE dedupe key), and senders lease rows, so each
notification is delivered by one of them.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..delivery.outbox import Outbox
from ..delivery.sender import Sender
from ..polling.poller import Poller
from ..polling.watermark import PRUNED, PollState
from ..service import TrackingService
from ..store.database import Store
from ..store.retention import prune
from ..watches.escalation import EscalationWatch
from ..watches.quota import QuotaWatch
from ..watches.reports import ReportScheduler
from ..watches.stuck import StuckWatcher

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

    def run_once(self) -> None:
        """One poll cycle, then one send pass, and the retention pass when it is due
        (what the loop repeats)."""
        self.poller.poll()
        if self.stuck is not None:
            self.stuck.run_once()
        if self.quota is not None:
            self.quota.run_once(self.outbox.depth())
        if self.reports is not None:
            self.reports.run_due()
        if self.escalation is not None:
            self.escalation.run_once()
        self.sender.send_due()
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
    log.info("tracking worker started (every %g s)", tracking.interval)
    while not stop_event.is_set():
        started = time.monotonic()
        try:
            tracking.run_once()
        except Exception:
            log.exception("tracking cycle failed; trying again next cycle")
        # Cycles start every ``interval`` (not ``interval`` after the last one ended), so
        # a job that ends is announced within one interval (README.md, "How fast").
        send_when_due(tracking.sender, stop_event, until=started + tracking.interval)
    log.info("tracking worker stopped")


def send_when_due(sender: Sender, stop_event: threading.Event, *, until: float) -> None:
    """Until the monotonic time ``until``: whenever a notification held by pacing or
    Retry-After comes due, send it then, not at the next cycle (a reply held one
    second by Slack's pace waits one second, not one poll interval)."""
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
            stop_event.wait(left)
            return
        if stop_event.wait(max(due, MIN_WAKE_SECONDS)):
            return
        try:
            sender.send_due()
        except Exception:
            log.exception("send pass failed; trying again next cycle")
