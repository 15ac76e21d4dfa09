"""The tracking parts from settings: store, poller, sender, watches and the command
service (:func:`build_tracking`), the receiver of MetaStudio's callbacks
(:func:`build_receiver`) and the record of Slack events let through
(:func:`first_time_events`)."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from ..domain.explain import Reason
from ..domain.messaging import Messenger
from ..domain.runbook import DEFAULT, Runbook
from ..metastudio.api import DetailsAPI, JobsAPI
from ..metastudio.assets import AssetsAPI
from ..metastudio.cache import CachedAssets
from ..metastudio.models import Job
from ..metastudio.operations import JobOperations
from ..settings import Settings
from ..slack.step_completer import SlackStepCompleter
from ..tracking.delivery import completions
from ..tracking.delivery.covers import build_covers
from ..tracking.delivery.marking import MarkedMessenger, as_marked
from ..tracking.delivery.outbox import Outbox
from ..tracking.delivery.reasons import FailureReasons, no_reasons
from ..tracking.delivery.sender import Sender, SenderPolicy
from ..tracking.polling.callbacks import CallbackReceiver, SendSoon
from ..tracking.polling.poller import Poller
from ..tracking.process.leadership import Leadership
from ..tracking.process.worker import Tracking, utc_now
from ..tracking.service import TrackingService
from ..tracking.store.database import Store
from ..tracking.store.leases import Leases
from ..tracking.watches.escalation import EscalationWatch
from ..tracking.watches.quota import QuotaWatch
from ..tracking.watches.reports import REPORT_KIND, ReportRenderer, ReportScheduler
from ..tracking.watches.stuck import StuckWatcher


def build_tracking(
    settings: Settings,
    jobs: JobsAPI,
    messenger: Messenger | MarkedMessenger,
    *,
    clock: Callable[[], datetime] = utc_now,
    owner: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    runbook: Runbook = DEFAULT,
    can_cancel: bool = False,
    can_retry: bool = False,
    group_known: Callable[[str], bool | None] | None = None,
    keep_alive: bool | None = None,
) -> Tracking:
    """Open and migrate the database named by ``settings.database_url`` and build the
    tracking parts.

    ``jobs`` is the bot's client, plain or cached: the poller uses only its fresh reads
    (which feed the cache what they saw).
    ``messenger`` is :class:`bot.slack.messenger.SlackMessenger` in Slack modes.
    ``sleep`` waits on ``clock``'s timeline (the sender paces posts with it).
    ``runbook`` explains failures; ``can_cancel`` (CANCEL_ALLOWED is set) puts Cancel
    buttons on tracking messages, ``can_retry`` (RETRY_ALLOWED) Retry on failures.
    ``keep_alive`` (by default: when ``clock`` is the real one) keeps leases alive on
    real time: the sender's during its passes, and the poller lease with this process's
    liveness while :func:`~bot.tracking.process.worker.run_worker` runs, so one process
    per database polls and the senders share the channels. Tests that drive a clock of
    their own drive leases by hand (and every such process polls, as before).
    """
    if keep_alive is None:
        keep_alive = clock is utc_now
    owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    store = Store(settings.database_url)
    store.migrate()
    outbox = Outbox(store)
    retention = timedelta(days=settings.retention_days)
    escalate_after = timedelta(minutes=settings.escalate_after_minutes)
    poller = Poller(store, outbox, jobs, clock=clock, retention=retention,
                    incident_window=timedelta(minutes=settings.incident_window_minutes))
    operations = JobOperations.of(jobs)
    reasons = failure_reasons(settings, jobs)
    quota = (QuotaWatch(operations, warn_percent=settings.quota_warn_percent,
                        digest_threshold=settings.digest_threshold, clock=clock)
             if operations is not None else None)
    leases = Leases(store)
    sender = Sender(
        store, outbox, as_marked(messenger), clock=clock, sleep=sleep, owner=owner,
        policy=replace(sender_policy(settings), keep_alive=keep_alive),
        senders=(lambda: leases.live(clock())) if keep_alive else (lambda: 1),
        renderers={REPORT_KIND: ReportRenderer(jobs, runbook=runbook)},
        covers=build_covers(settings.cover_upload, messenger, store),
        runbook=runbook, can_cancel=can_cancel, can_retry=can_retry, reasons=reasons,
        escalate_after=escalate_after,
        quota_warning=quota.current if quota is not None else lambda: None,
        # Workflow steps' completions (bot/tracking/delivery/completions.py).
        deliverers={completions.KIND: completions.Completions(
            store, SlackStepCompleter(settings.slack_api_url)).deliver},
    )
    stuck = StuckWatcher(store, outbox, jobs, clock=clock)
    service = TrackingService(store, outbox, jobs, messenger,
                              broadcast_default=settings.broadcast_failures, stuck=stuck,
                              runbook=runbook, can_cancel=can_cancel, can_retry=can_retry,
                              reasons=reasons, group_known=group_known)
    return Tracking(store, outbox, service, poller, sender, settings.poll_interval_seconds,
                    retention=retention, reports=ReportScheduler(store, outbox, clock=clock),
                    stuck=stuck, quota=quota,
                    escalation=EscalationWatch(store, outbox, every=escalate_after, clock=clock),
                    leader=Leadership(leases, owner, clock=clock,
                                      ttl=timedelta(seconds=settings.poll_lease_seconds))
                    if keep_alive else None)


def failure_reasons(settings: Settings, jobs: JobsAPI) -> Callable[[Job], tuple[Reason, ...]]:
    """Why an announced job failed, from its detail and the (cached) asset library over
    ``jobs``' transport; nothing where the client has neither (a test's fake reader)."""
    library = AssetsAPI.of(jobs)
    if library is None or not isinstance(jobs, DetailsAPI):
        return no_reasons
    return FailureReasons(jobs, CachedAssets(library, ttl=settings.cache_asset_ttl_seconds))


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


def first_time_events(store: Store,
                      clock: Callable[[], datetime] = utc_now) -> Callable[[str], bool]:
    """``first_time(event_id)`` for the Slack front (bot/slack/request_front.py) and
    Socket Mode: records a Slack event id in the tracking database and says whether no
    process on it had seen the id (Slack retries an event to whichever process answers)."""

    def first_time(event_id: str) -> bool:
        return store.first_event(event_id, clock())

    return first_time


def build_receiver(settings: Settings, tracking: Tracking) -> CallbackReceiver | None:
    """The receiver for ``settings`` (None without ``METASTUDIO_CALLBACK_KEY``)."""
    if settings.metastudio_callback_key is None:
        return None
    return CallbackReceiver(
        settings.metastudio_callback_key.get_secret_value(), tracking.store, tracking.poller,
        public_url=settings.metastudio_callback_url,
        wake=SendSoon(tracking.sender.send_due, tracking.sender.next_due_in),
    )
