"""The sender: delivers due outbox rows to Slack, exactly once as far as the channel sees.

One pass claims the due rows, and per channel either posts each (more than
``digest_threshold`` fresh ones become one digest whose thread holds the details), then
marks them sent. What Slack answers decides the rest:

- :class:`RateLimited`: the row, and the channel's other rows of this pass, wait for
  ``Retry-After`` (Slack allows about one message per second per channel).
- :class:`ImageRejected`: sent again at once with a link in place of the cover image.
- :class:`ChannelUnavailable`: the channel's tracking and subscriptions are paused with
  the reason, its waiting rows fail; nothing is retried forever.
- :class:`TransientDeliveryError`: exponential backoff, then failed after
  ``max_failures`` (logged, counted, and listed by ``tracked``).

Idempotence: a claimed row whose earlier attempt may have posted (``in_doubt``) is first
looked for by its marker (:mod:`bot.tracking.marking`); a found message is recorded, not
posted again. The tracking-message edit that follows a post is idempotent by nature.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..covers import CoverUploader, post_with_cover
from ..messaging import (
    Blocks,
    ChannelUnavailable,
    DeliveryError,
    ImageRejected,
    RateLimited,
    TransientDeliveryError,
)
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import Job, JobState
from ..metrics import NOTIFICATIONS, OUTBOX_DEPTH
from . import messages
from .marking import MarkedMessenger
from .oncall import broadcast_failures
from .outbox import Notification, Outbox
from .store import Store

log = logging.getLogger(__name__)

#: chat.update errors that leave a delivered notification delivered.
UNEDITABLE = frozenset({"cant_update_message", "message_not_found", "edit_window_closed"})
#: Builds a row's message (``.text``, ``.blocks``) when it is delivered.
Renderer = Callable[[Notification], Any]

#: What a pause reason tells the channel (``tracked`` shows it).
PAUSE_HINT = "the bot cannot post here; invite it with /invite @videojobs and track again"


@dataclass
class SendResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class SenderPolicy:
    broadcast_failures: bool = True
    digest_threshold: int = 5
    #: Long enough for one pass's Slack calls; a dead sender's rows wait this long.
    lease: timedelta = timedelta(minutes=2)
    batch: int = 200
    max_failures: int = 6
    backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=15)


class Sender:
    """Delivers the outbox. ``owner`` names this process in leases; ``clock`` returns
    aware UTC datetimes (tests inject one)."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        messenger: MarkedMessenger,
        *,
        owner: str,
        clock: Callable[[], datetime],
        policy: SenderPolicy = SenderPolicy(),
        renderers: Mapping[str, Renderer] | None = None,
        covers: CoverUploader | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.messenger = messenger
        self.owner = owner
        self.clock = clock
        self.policy = policy
        #: Row kinds whose message is built at delivery time (scheduled reports).
        self.renderers = dict(renderers or {})
        #: Uploads covers to Slack (``COVER_UPLOAD``); None: covers stay URL images.
        self.covers = covers

    def send_due(self) -> SendResult:
        """One pass over the rows due now."""
        now = self.clock()
        result = SendResult()
        rows = self.outbox.claim(self.owner, now=now, lease=self.policy.lease,
                                 limit=self.policy.batch)
        by_channel: dict[str, list[Notification]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for channel, group in by_channel.items():
            self._send_channel(channel, self._with_digest(group, now), now, result)
        OUTBOX_DEPTH.set(self.outbox.depth())
        return result

    def _with_digest(self, group: list[Notification], now: datetime) -> list[Notification]:
        """Fold a burst of fresh rows into one digest. Only first attempts are folded: a
        retried row may already be in the channel on its own."""
        fresh = [r for r in group if r.kind != "digest" and r.kind not in self.renderers
                 and r.attempts == 1]
        if len(fresh) <= self.policy.digest_threshold:
            return group
        digest = self.outbox.form_digest(self.owner, fresh, now=now, lease=self.policy.lease)
        if digest is None:
            return [r for r in group if r not in fresh]
        return [digest, *(r for r in group if r not in fresh)]

    def _send_channel(
        self, channel: str, rows: list[Notification], now: datetime, result: SendResult
    ) -> None:
        for index, row in enumerate(rows):
            try:
                ts = self._deliver(row)
            except RateLimited as e:
                at = now + timedelta(seconds=e.retry_after)
                log.info("Slack rate-limits %s: %d notifications wait %.0f s",
                         channel, len(rows) - index, e.retry_after)
                for waiting in rows[index:]:
                    self.outbox.reschedule(waiting, self.owner, at=at, error=str(e),
                                           failure=False)
                NOTIFICATIONS.labels(result="retried").inc(len(rows) - index)
                result.retried += len(rows) - index
                return
            except ChannelUnavailable as e:
                reason = f"{e.error or e}: {PAUSE_HINT}"
                log.warning("pausing channel %s: %s", channel, reason)
                self.outbox.pause_channel(channel, reason)
                NOTIFICATIONS.labels(result="paused").inc(len(rows) - index)
                result.failed += len(rows) - index
                return
            except TransientDeliveryError as e:
                self._backoff(row, e, now, result)
            except DeliveryError as e:
                log.error("notification %s refused by Slack, giving up: %s", row.dedupe_key, e)
                self.outbox.fail(row, self.owner, str(e))
                NOTIFICATIONS.labels(result="failed").inc()
                result.failed += 1
            else:
                if self.outbox.mark_sent(row, self.owner, ts, now=self.clock()):
                    NOTIFICATIONS.labels(result="sent").inc()
                    result.sent += 1
                else:
                    log.warning("lease on %s expired before it was marked sent", row.dedupe_key)

    def _backoff(
        self, row: Notification, error: Exception, now: datetime, result: SendResult
    ) -> None:
        failures = row.failures + 1
        if failures >= self.policy.max_failures:
            log.error("notification %s failed %d times, giving up: %s",
                      row.dedupe_key, failures, error)
            self.outbox.fail(row, self.owner, f"gave up after {failures} attempts: {error}")
            NOTIFICATIONS.labels(result="failed").inc()
            result.failed += 1
            return
        delay = min(self.policy.backoff * 2 ** (failures - 1), self.policy.max_backoff)
        log.warning("notification %s: %s; retrying in %s", row.dedupe_key, error, delay)
        self.outbox.reschedule(row, self.owner, at=now + delay, error=str(error), failure=True)
        NOTIFICATIONS.labels(result="retried").inc()
        result.retried += 1

    # -- one row ----------------------------------------------------------------------

    def _deliver(self, row: Notification) -> str:
        """Post what ``row`` says unless it is already in Slack; returns the ts."""
        if row.kind == "digest":
            return self._deliver_digest(row)
        if row.kind in self.renderers:
            return self._deliver_rendered(row)
        job = Job.model_validate(row.payload["job"])
        thread_ts = row.payload.get("thread_ts")
        ts = row.posted_ts
        if ts is None and row.in_doubt:
            ts = self.messenger.marked(row.channel, thread_ts=thread_ts,
                                       oldest=row.created_at).get(row.dedupe_key)
        if ts is None:
            broadcast = bool(thread_ts) and job.state == JobState.FAILED and \
                broadcast_failures(self.store, row.channel,
                                   default=self.policy.broadcast_failures, now=self.clock())
            ts = self._post_outcome(row, job, thread_ts, broadcast)
        if ts != row.posted_ts:
            self.outbox.mark_posted(row, self.owner, ts)
        if thread_ts and row.kind == "track":
            self._refresh_tracking_message(row.channel, thread_ts)
        return ts

    def _post_outcome(
        self, row: Notification, job: Job, thread_ts: str | None, broadcast: bool
    ) -> str:
        message = messages.notification(row.payload)

        def post(blocks: Blocks) -> str:
            return self.messenger.post(row.channel, text=message.text, blocks=blocks,
                                       thread_ts=thread_ts, reply_broadcast=broadcast,
                                       marker=row.dedupe_key)

        # First the cover uploaded to Slack (bot/covers.py); then, as before, the URL
        # image, then a link.
        uploaded = post_with_cover(post, message.blocks, job, self.covers)
        if uploaded is not None:
            return uploaded
        try:
            return self.messenger.post(row.channel, text=message.text, blocks=message.blocks,
                                       thread_ts=thread_ts, reply_broadcast=broadcast,
                                       marker=row.dedupe_key)
        except ImageRejected:
            # A broken thumbnail never costs the notification: link the cover instead.
            log.info("Slack could not fetch the cover of %s; sending without it", job.job_id)
            NOTIFICATIONS.labels(result="image_fallback").inc()
            message = messages.notification(row.payload, with_image=False)
            return self.messenger.post(row.channel, text=message.text, blocks=message.blocks,
                                       thread_ts=thread_ts, reply_broadcast=broadcast,
                                       marker=row.dedupe_key)

    def _deliver_rendered(self, row: Notification) -> str:
        """A row whose message its renderer builds now (upstream calls included)."""
        ts = row.posted_ts
        if ts is None and row.in_doubt:
            ts = self.messenger.marked(row.channel, oldest=row.created_at).get(row.dedupe_key)
        if ts is None:
            try:
                message = self.renderers[row.kind](row)
            except MetaStudioError as e:
                # Upstream trouble is retried with the backoff, like Slack's.
                raise TransientDeliveryError(f"{row.kind}: {e}") from e
            except Exception as e:
                # A row that cannot be built is given up (logged, listed by ``tracked``)
                # rather than stopping every other notification behind it.
                log.exception("%s %s could not be built", row.kind, row.dedupe_key)
                raise DeliveryError(f"{row.kind} could not be built: {e!r}") from e
            ts = self.messenger.post(row.channel, text=message.text, blocks=message.blocks,
                                     marker=row.dedupe_key)
        return ts

    def _deliver_digest(self, row: Notification) -> str:
        members = self.outbox.members(row.id)
        jobs = [Job.model_validate(m.payload["job"]) for m in members]
        ts = row.posted_ts
        if ts is None and row.in_doubt:
            ts = self.messenger.marked(row.channel, oldest=row.created_at).get(row.dedupe_key)
        if ts is None:
            summary = messages.digest_summary(jobs)
            ts = self.messenger.post(row.channel, text=summary.text, blocks=summary.blocks,
                                     marker=row.dedupe_key)
            self.outbox.mark_posted(row, self.owner, ts)
        elif ts != row.posted_ts:
            self.outbox.mark_posted(row, self.owner, ts)
        posted = self.messenger.marked(row.channel, thread_ts=ts) if row.in_doubt else {}
        size = messages.DIGEST_CHUNK
        for start in range(0, len(jobs), size):
            key = f"{row.dedupe_key}#{start // size}"
            if key not in posted:
                details = messages.digest_details(jobs[start : start + size])
                self.messenger.post(row.channel, text=details.text, blocks=details.blocks,
                                    thread_ts=ts, marker=key)
        for tracking_ts in dict.fromkeys(m.payload.get("thread_ts") for m in members
                                         if m.kind == "track"):
            if tracking_ts:
                self._refresh_tracking_message(row.channel, tracking_ts)
        return ts

    def _refresh_tracking_message(self, channel: str, tracking_ts: str) -> None:
        """Show the jobs' current states in the tracking message (``chat.update``)."""
        jobs = self.store.in_message(channel, tracking_ts)
        if jobs:
            message = messages.tracking_message(jobs)
            try:
                self.messenger.update(channel, tracking_ts, text=message.text,
                                      blocks=message.blocks)
            except DeliveryError as e:
                # A deleted tracking message, or one the bot did not write (the message
                # shortcut threads under a colleague's message): the reply went out.
                if type(e) is not DeliveryError or e.error not in UNEDITABLE:
                    raise
                log.info("tracking message %s in %s not edited: %s", tracking_ts, channel, e)
