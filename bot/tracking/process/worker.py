"""Wiring and the run loop: :func:`build_tracking` assembles store, service, poller and
sender from settings; :func:`run_worker` polls and sends every ``poll_interval_seconds``.

Any number of processes may run the loop on one database: pollers that see the same
change enqueue one row (UNIQUE dedupe key), and senders lease rows, so each
notification is delivered by one of them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ...domain.messaging import Messenger
from ...metastudio.api import JobsAPI
from ...metastudio.operations import JobOperations
from ...settings import Settings
from ..delivery.covers import build_covers
from ..delivery.marking import MarkedMessenger, as_marked
from ..delivery.notifier import Sender, SenderPolicy
from ..delivery.outbox import Outbox
from ..polling.poller import Poller
from ..polling.watermark import PRUNED, PollState
from ..service import TrackingService
from ..store.database import Store
from ..store.retention import prune
from ..watches.quota import QuotaWatch
from ..watches.reports import REPORT_KIND, ReportRenderer, ReportScheduler
from ..watches.stuck import StuckWatcher

log = logging.getLogger(__name__)


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


def build_tracking(
    settings: Settings,
    jobs: JobsAPI,
    messenger: Messenger | MarkedMessenger,
    *,
    clock: Callable[[], datetime] = utc_now,
    owner: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Tracking:
    """Open and migrate the database named by ``settings.database_url`` and build the
    tracking parts.

    ``jobs`` is the bot's client, plain or cached: the poller uses only its fresh reads
    (which feed the cache what they saw).
    ``messenger`` is :class:`bot.slack.messenger.SlackMessenger` in Slack modes.
    ``sleep`` waits on ``clock``'s timeline (the sender paces posts with it).
    """
    store = Store(settings.database_url)
    store.migrate()
    outbox = Outbox(store)
    retention = timedelta(days=settings.retention_days)
    poller = Poller(store, outbox, jobs, clock=clock, retention=retention)
    sender = Sender(
        store, outbox, as_marked(messenger), clock=clock, sleep=sleep,
        owner=owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        policy=sender_policy(settings),
        renderers={REPORT_KIND: ReportRenderer(jobs)},
        covers=build_covers(settings.cover_upload, messenger, store),
    )
    stuck = StuckWatcher(store, outbox, jobs, clock=clock)
    service = TrackingService(store, outbox, jobs, messenger,
                              broadcast_default=settings.broadcast_failures, stuck=stuck)
    operations = JobOperations.of(jobs)
    quota = (QuotaWatch(operations, warn_percent=settings.quota_warn_percent,
                        digest_threshold=settings.digest_threshold, clock=clock)
             if operations is not None else None)
    return Tracking(store, outbox, service, poller, sender, settings.poll_interval_seconds,
                    retention=retention, reports=ReportScheduler(store, outbox, clock=clock),
                    stuck=stuck, quota=quota)


def sender_policy(settings: Settings) -> SenderPolicy:
    """The sender's policy from the ``DELIVERY_*`` settings (docs/delivery.md). A pass
    paces posts for up to one poll interval (at least 10 s, so a pass can post several
    messages to one channel even with a very short interval)."""
    return SenderPolicy(
        broadcast_failures=settings.broadcast_failures,
        digest_threshold=settings.digest_threshold,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        pass_budget=timedelta(seconds=max(settings.poll_interval_seconds, 10.0)),
        channel_rate=settings.delivery_channel_rate,
        backoff=timedelta(seconds=settings.delivery_backoff_seconds),
        max_backoff=timedelta(seconds=settings.delivery_max_backoff_seconds),
        give_up_after=timedelta(hours=settings.delivery_give_up_hours),
        probe_every=timedelta(seconds=settings.delivery_probe_seconds),
        max_probe_every=timedelta(seconds=settings.delivery_probe_max_seconds),
    )


def run_worker(tracking: Tracking, stop_event: threading.Event) -> None:
    """Poll and send every ``interval`` seconds until ``stop_event`` is set. A set event
    lets the current cycle finish; an unexpected error is logged and the loop goes on."""
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
        stop_event.wait(max(0.0, tracking.interval - (time.monotonic() - started)))
    log.info("tracking worker stopped")
