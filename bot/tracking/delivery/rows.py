"""One outbox row's delivery, step by step: what it posts (a job's outcome with its
cover, a rendered report, a digest and its details) and how (split in parts when Slack
refuses it for its size, found again by its markers after a crash).

A row's delivery is a generator (:data:`Steps`): it yields right before each post, and the
sender (:mod:`.sender`) renews the leases and waits for a pacing token before resuming
it. Nothing here knows about passes, leases or pacing; the sender knows nothing about
what a row says. docs/delivery.md tells the whole design.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ...domain.explain import Reason
from ...domain.job_events import Event, job_ended, jobs_ended
from ...domain.messaging import (
    Blocks,
    DeliveryError,
    ImageRejected,
    MessageTooLong,
    RateLimited,
    TransientDeliveryError,
    WorkspaceUnavailable,
)
from ...domain.runbook import DEFAULT, Runbook
from ...metastudio.errors import MetaStudioError
from ...metastudio.models import Job, JobState
from ...telemetry.metrics import NOTIFICATIONS
from ...views import notifications as messages
from ...views import oncall
from ...views.blocks import pack_lines, section
from ..store.database import Store
from . import sizing
from .covers import CoverUploader, cover_refused, with_slack_file
from .marking import MarkedMessenger
from .oncall import DIRECT, broadcast_failures
from .outbox import CC, Notification, Outbox, cc_of, track_key
from .pages import (
    INCIDENT_LINE,
    INCIDENT_RECOVERED,
    PAGE_ESCALATE,
    PAGE_REPEAT,
    PageStore,
    announcement,
)
from .reasons import no_reasons

log = logging.getLogger(__name__)

#: Builds a row's message (``.text``, ``.blocks``) when it is delivered.
Renderer = Callable[[Notification], Any]

#: Parts deep a refused message is split before the sender stops trying (2**12 parts).
MAX_SPLIT_DEPTH = 12

#: A row's delivery, step by step: it yields right before each post (the sender renews
#: the leases and takes a pacing token, then resumes it) and returns the message ts.
Steps = Generator[None, None, str]
#: Delivers a kind of row that is not a message (a workflow step's completion).
Deliverer = Callable[[Notification], Steps]


#: Row kinds that may page user groups (Acknowledge, Snooze, reminders): a channel's
#: announcement, and a stuck-jobs announcement.
PAGING = frozenset({"sub", "stuck"})
#: Row kinds that are one job's end, and fold into a digest in a burst.
FOLDABLE = frozenset({"track", "sub", DIRECT})


def destination(row: Notification) -> tuple[str, str | None]:
    """Where a row goes: its channel (or the person, for a DM), and the tracking thread
    for a tracked job's end. A burst folds per destination, never across them."""
    return row.channel, row.payload.get("thread_ts") if row.kind == "track" else None


def digest_payload(members: list[Notification]) -> dict[str, Any]:
    """What a digest of ``members`` (one destination) carries: its thread, and its
    audience, each once: who tracked the jobs, every group their failures page, or the
    person of a DM."""
    _, thread_ts = destination(members[0])
    people = sorted({m.payload["requested_by"] for m in members
                     if m.kind == "track" and m.payload.get("requested_by")})
    groups = sorted({g for m in members for g in messages.groups_of(m.payload)})
    return {"thread_ts": thread_ts, "people": people, "mention_groups": groups,
            "direct": members[0].kind == DIRECT}


@dataclass(frozen=True)
class _DigestPlan:
    members: list[Notification]
    jobs: list[Job]
    chunks: list[list[Job]]


class RowDelivery:
    """Delivers rows for the sender that owns them (``owner`` in the outbox's leases)."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        messenger: MarkedMessenger,
        *,
        owner: str,
        clock: Callable[[], datetime],
        broadcast_default: bool = True,
        renderers: Mapping[str, Renderer] | None = None,
        covers: CoverUploader | None = None,
        runbook: Runbook = DEFAULT,
        quota_warning: Callable[[], str | None] = lambda: None,
        can_cancel: bool = False,
        can_retry: bool = False,
        reasons: Callable[[Job], tuple[Reason, ...]] = no_reasons,
        escalate_after: timedelta = timedelta(minutes=15),
        deliverers: Mapping[str, Deliverer] | None = None,
    ) -> None:
        self.store = store
        #: Pages and incidents (docs/oncall.md); a page's first reminder is
        #: ``escalate_after`` after it was posted.
        self.pages = PageStore(store)
        self.escalate_after = escalate_after
        self.outbox = outbox
        self.messenger = messenger
        self.owner = owner
        self.clock = clock
        #: BROADCAST_FAILURES where a channel has no setting of its own.
        self.broadcast_default = broadcast_default
        #: Row kinds whose message is built at delivery time (scheduled reports).
        self.renderers = dict(renderers or {})
        #: Row kinds delivered otherwise (workflow step completions, .completions).
        self.deliverers = dict(deliverers or {})
        #: Uploads covers to Slack (``COVER_UPLOAD``); None: covers stay URL images.
        self.covers = covers
        #: How failures are explained (RUNBOOK_FILE over the built-in hints).
        self.runbook = runbook
        #: The low-minutes line a digest with failures carries (watches/quota.py).
        self.quota_warning = quota_warning
        #: Tracking messages show Cancel on waiting jobs (CANCEL_ALLOWED is set).
        self.can_cancel = can_cancel
        #: Failure messages show Retry on failed 2D and photo jobs (RETRY_ALLOWED is set).
        self.can_retry = can_retry
        #: Why a failed job failed (.reasons), shown in its reply and announcement.
        self.reasons = reasons
        #: Markers posted during the current pass: whether a row has posted anything.
        self.posted: set[str] = set()
        #: Digests being delivered, by row id (see _digest_plan).
        self._plans: dict[int, _DigestPlan] = {}

    def new_pass(self) -> None:
        """Forget what the last pass posted (and digests another sender finished)."""
        self.posted.clear()
        if len(self._plans) > 100:
            self._plans.clear()

    def has_posted(self, row: Notification) -> bool:
        """Whether this pass posted anything of ``row`` (a part, a digest's summary)."""
        return row.posted_ts is not None or any(
            m == row.dedupe_key or m.startswith((row.dedupe_key + "/", row.dedupe_key + "#"))
            for m in self.posted)

    def deliver(self, row: Notification) -> Steps:
        """Post what ``row`` says unless it is already in Slack; returns the ts."""
        if row.kind == "digest" and row.payload.get("lines"):
            return (yield from self._deliver_incident_lines(row))
        if row.kind == "digest" and row.payload.get("compact"):
            return (yield from self._deliver_paced_fold(row))
        if row.kind == "digest":
            return (yield from self._deliver_digest(row))
        if row.kind == CC:
            return (yield from self._deliver_cc(row))
        if row.kind in (INCIDENT_LINE, INCIDENT_RECOVERED):
            return (yield from self._deliver_incident_reply(row))
        if row.kind in (PAGE_REPEAT, PAGE_ESCALATE):
            return (yield from self._deliver_reminder(row))
        if row.kind == "sub" and "incident" in row.payload:
            return (yield from self._deliver_incident(row))
        if row.kind in self.renderers:
            return (yield from self._deliver_rendered(row))
        if row.kind in self.deliverers:
            return (yield from self.deliverers[row.kind](row))
        job = Job.model_validate(row.payload["job"])
        thread_ts = row.payload.get("thread_ts")
        ts = row.posted_ts
        found: dict[str, str] = {}
        if ts is None and row.in_doubt:
            found = self.messenger.marked(row.channel, thread_ts=thread_ts,
                                          oldest=row.created_at)
            ts = found.get(row.dedupe_key)
        if ts is None:
            broadcast = bool(thread_ts) and job.state == JobState.FAILED and \
                broadcast_failures(self.store, row.channel,
                                   default=self.broadcast_default, now=self.clock())
            ts = yield from self._post_outcome(row, job, thread_ts, broadcast, found)
        if ts != row.posted_ts:
            self.outbox.mark_posted(row, self.owner, ts)
        if thread_ts and row.kind == "track":
            self._refresh_tracking_message(row.channel, thread_ts, posted={row.id})
        if row.kind in PAGING:
            self.pages.posted(row.dedupe_key, ts, self.clock() + self.escalate_after)
        return ts

    # -- on-call: incidents and the reminders of a page (docs/oncall.md) -------------------

    def _deliver_incident(self, row: Notification) -> Steps:
        """The first failure of a cause: the incident's message, paging its groups."""
        ts, found = self._already(row, thread_ts=None)
        if ts is None:
            shown = announcement(self.outbox, self.pages, row.dedupe_key, runbook=self.runbook,
                                 can_retry=self.can_retry, reasons=self.reasons)
            assert shown is not None  # a "sub" row with its incident
            text, blocks = shown
            ts = yield from self._post(row.channel, text, blocks, marker=row.dedupe_key,
                                       found=found,
                                       event=job_ended(Job.model_validate(row.payload["job"])))
        if ts != row.posted_ts:
            self.outbox.mark_posted(row, self.owner, ts)
        self.pages.posted(row.dedupe_key, ts, self.clock() + self.escalate_after)
        return ts

    def _deliver_incident_reply(self, row: Notification) -> Steps:
        """A later failure of the incident's cause (a line in its thread), or its
        recovery; the incident's message then shows the new count, last seen or
        recovery."""
        incident = self.pages.incident(int(row.payload["incident"]))
        announced = self.outbox.by_key(incident.announce_key) if incident else None
        thread_ts = announced.posted_ts if announced is not None else None
        if incident is None or announced is None or thread_ts is None:
            raise TransientDeliveryError(f"{row.dedupe_key}: its incident is not posted yet")
        ts, found = self._already(row, thread_ts=thread_ts)
        if ts is None:
            job = Job.model_validate(row.payload["job"])
            text = (oncall.incident_line(job) if row.kind == INCIDENT_LINE
                    else oncall.incident_recovered(job))
            # A line tells one job's end (its metadata says so); a recovery is news about
            # the incident, not an end to announce.
            ts = yield from self._post(row.channel, text, [section(text)], thread_ts=thread_ts,
                                       marker=row.dedupe_key, found=found,
                                       event=job_ended(job) if row.kind == INCIDENT_LINE
                                       else None)
        self._redraw_announcement(row.channel, incident.announce_key, thread_ts)
        return ts

    def _deliver_reminder(self, row: Notification) -> Steps:
        """The repeat of an unanswered page, or its escalation, in the page's thread."""
        thread_ts = str(row.payload["thread_ts"])
        ts, found = self._already(row, thread_ts=thread_ts)
        if ts is None:
            groups = messages.groups_of(row.payload)
            waited = float(row.payload.get("waited") or 0)
            key = str(row.payload["page"])
            text, blocks = (oncall.page_repeat(groups, waited, key) if row.kind == PAGE_REPEAT
                            else oncall.page_escalation(groups, waited,
                                                        row.payload.get("first") or [], key))
            ts = yield from self._post(row.channel, text, blocks, thread_ts=thread_ts,
                                       marker=row.dedupe_key, found=found)
        return ts

    def _already(self, row: Notification, *, thread_ts: str | None
                 ) -> tuple[str | None, dict[str, str]]:
        """The row's message if an earlier attempt posted it (found by its marker)."""
        if row.posted_ts is not None or not row.in_doubt:
            return row.posted_ts, {}
        found = self.messenger.marked(row.channel, thread_ts=thread_ts, oldest=row.created_at)
        return found.get(row.dedupe_key), found

    def _redraw_announcement(self, channel: str, key: str, ts: str) -> None:
        """Edit a channel announcement to read as it should now (best effort, like the
        tracking message's edit: only failures worth a retry count)."""
        shown = announcement(self.outbox, self.pages, key, runbook=self.runbook,
                             can_retry=self.can_retry, reasons=self.reasons)
        if shown is None:
            return
        try:
            self.messenger.update(channel, ts, text=shown[0], blocks=shown[1])
        except (RateLimited, TransientDeliveryError, WorkspaceUnavailable):
            raise
        except DeliveryError as e:
            log.warning("announcement %s in %s not redrawn: %s", ts, channel, e)

    def _post_outcome(
        self, row: Notification, job: Job, thread_ts: str | None, broadcast: bool,
        found: dict[str, str],
    ) -> Steps:
        why = self.reasons(job)
        message = messages.notification(row.payload, runbook=self.runbook,
                                        can_retry=self.can_retry, explanation=why)
        message = self._with_page(row, message)
        event = job_ended(job)  # the job's end as message metadata, for other apps
        # First the cover uploaded to Slack (tracking/delivery/covers.py); then, as
        # before, the URL image, then a link. Each goes through _post: paced, leases
        # checked, split if too long, and found again by its marker after a crash.
        file_id = self.covers.slack_file(job) if self.covers is not None else None
        if file_id is not None:
            try:
                return (yield from self._post(
                    row.channel, message.text, with_slack_file(message.blocks, file_id),
                    thread_ts=thread_ts, broadcast=broadcast, marker=row.dedupe_key,
                    found=found, event=event))
            except DeliveryError as e:
                if not cover_refused(e):
                    raise
                log.info("Slack refused the uploaded cover %s of %s (%s); using its URL",
                         file_id, job.job_id, e)
                NOTIFICATIONS.labels(result="cover_refused").inc()
        try:
            return (yield from self._post(row.channel, message.text, message.blocks,
                                          thread_ts=thread_ts, broadcast=broadcast,
                                          marker=row.dedupe_key, found=found, event=event))
        except ImageRejected:
            # A broken thumbnail never costs the notification: link the cover instead.
            log.info("Slack could not fetch the cover of %s; sending without it", job.job_id)
            NOTIFICATIONS.labels(result="image_fallback").inc()
            message = self._with_page(row, messages.notification(
                row.payload, with_image=False, runbook=self.runbook, can_retry=self.can_retry,
                explanation=why))
            return (yield from self._post(row.channel, message.text, message.blocks,
                                          thread_ts=thread_ts, broadcast=broadcast,
                                          marker=row.dedupe_key, found=found, event=event))

    @staticmethod
    def _with_page(row: Notification, message: messages.Message) -> messages.Message:
        """A channel announcement that pages carries Acknowledge and Snooze under it
        (docs/oncall.md)."""
        if row.kind in PAGING and messages.groups_of(row.payload):
            return messages.Message(message.text,
                                    [*message.blocks, *oncall.page_blocks(row.dedupe_key)])
        return message

    def _deliver_rendered(self, row: Notification) -> Steps:
        """A row whose message its renderer builds now (upstream calls included)."""
        ts = row.posted_ts
        found: dict[str, str] = {}
        if ts is None and row.in_doubt:
            found = self.messenger.marked(row.channel, oldest=row.created_at)
            ts = found.get(row.dedupe_key)
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
            ts = yield from self._post(row.channel, message.text, message.blocks,
                                       marker=row.dedupe_key, found=found)
        return ts

    def _digest_plan(self, row: Notification) -> _DigestPlan:
        """A digest's members, jobs and detail chunks; kept while it is being delivered
        (members never change once folded), so a digest resumed by the next pass does
        not load and lay out 500 jobs again."""
        plan = self._plans.get(row.id)
        if plan is None:
            members = self.outbox.members(row.id)
            jobs = [Job.model_validate(m.payload["job"]) for m in members]
            # Chunked by job count, blocks and characters, so Slack's limits are met
            # before it has to refuse anything (sizing.py); the chunks are the same on
            # every try, so their markers match what an earlier attempt posted.
            chunks = sizing.pack(jobs, lambda j: messages.outcome(
                j, with_image=False, runbook=self.runbook).blocks,
                                 max_items=messages.DIGEST_CHUNK)
            plan = self._plans[row.id] = _DigestPlan(members, jobs, chunks)
        return plan

    def _deliver_digest(self, row: Notification) -> Steps:
        """A burst to one destination: its summary (addressed to the burst's audience),
        then the details. A channel's or a person's digest is a message with the details
        in its thread; a tracking message's digest is a reply in that thread, with the
        details following it there."""
        plan = self._digest_plan(row)
        members, jobs, chunks = plan.members, plan.jobs, plan.chunks
        thread_ts = row.payload.get("thread_ts")
        ts = row.posted_ts
        found: dict[str, str] = {}
        if ts is None and row.in_doubt:
            found = self.messenger.marked(row.channel, thread_ts=thread_ts,
                                          oldest=row.created_at)
            ts = found.get(row.dedupe_key)
        if ts is None:
            summary = messages.digest_summary(
                jobs, quota_warning=self.quota_warning(), people=row.payload.get("people", ()),
                groups=messages.groups_of(row.payload), direct=bool(row.payload.get("direct")),
                in_thread=bool(thread_ts))
            failed = any(job.state == JobState.FAILED for job in jobs)
            broadcast = bool(thread_ts) and failed and broadcast_failures(
                self.store, row.channel, default=self.broadcast_default, now=self.clock())
            ts = yield from self._post(row.channel, summary.text, summary.blocks,
                                       thread_ts=thread_ts, broadcast=broadcast,
                                       marker=row.dedupe_key, found=found)
        if ts != row.posted_ts:
            self.outbox.mark_posted(row, self.owner, ts)
        details_in = thread_ts or ts
        if not row.in_doubt:
            posted: dict[str, str] = {}
        elif thread_ts and row.posted_ts is None:
            posted = found  # the tracking thread was just read for the summary
        else:
            posted = self.messenger.marked(row.channel, thread_ts=details_in)
        for index, chunk in enumerate(chunks):
            details = messages.digest_details(chunk, runbook=self.runbook)
            yield from self._post(row.channel, details.text, details.blocks,
                                  thread_ts=details_in, marker=f"{row.dedupe_key}#{index}",
                                  found=posted, event=jobs_ended(chunk))
        done = {row.id, *(m.id for m in members)}
        for tracking_ts in dict.fromkeys(m.payload.get("thread_ts") for m in members
                                         if m.kind == "track"):
            if tracking_ts:
                self._refresh_tracking_message(row.channel, tracking_ts, posted=done)
        self._plans.pop(row.id, None)
        return ts

    def _deliver_paced_fold(self, row: Notification) -> Steps:
        """A few ends of one destination that waited on the channel's pace: one message
        with the digest's summary line and each job's section (no details thread), then
        the tracking messages' edit, as for a digest."""
        members = self.outbox.members(row.id)
        jobs = [Job.model_validate(m.payload["job"]) for m in members]
        thread_ts = row.payload.get("thread_ts")
        ts, found = self._already(row, thread_ts=thread_ts)
        if ts is None:
            message = messages.paced_fold(
                jobs, quota_warning=self.quota_warning(), people=row.payload.get("people", ()),
                groups=messages.groups_of(row.payload), direct=bool(row.payload.get("direct")),
                runbook=self.runbook)
            failed = any(job.state == JobState.FAILED for job in jobs)
            broadcast = bool(thread_ts) and failed and broadcast_failures(
                self.store, row.channel, default=self.broadcast_default, now=self.clock())
            ts = yield from self._post(row.channel, message.text, message.blocks,
                                       thread_ts=thread_ts, broadcast=broadcast,
                                       marker=row.dedupe_key, found=found, event=jobs_ended(jobs))
        if ts != row.posted_ts:
            self.outbox.mark_posted(row, self.owner, ts)
        if thread_ts and any(m.kind == "track" for m in members):
            self._refresh_tracking_message(row.channel, thread_ts,
                                           posted={row.id, *(m.id for m in members)})
        return ts

    def _deliver_incident_lines(self, row: Notification) -> Steps:
        """Failures of one incident claimed together (a burst one poll found, or lines
        that waited on the channel's pace): one reply in its thread, a line each; then
        the incident's message shows the new count."""
        incident = self.pages.incident(int(row.payload["incident"]))
        announced = self.outbox.by_key(incident.announce_key) if incident else None
        thread_ts = announced.posted_ts if announced is not None else None
        if incident is None or announced is None or thread_ts is None:
            raise TransientDeliveryError(f"{row.dedupe_key}: its incident is not posted yet")
        ts, found = self._already(row, thread_ts=thread_ts)
        if ts is None:
            jobs = [Job.model_validate(m.payload["job"]) for m in self.outbox.members(row.id)]
            text = oncall.incident_lines(jobs)
            ts = yield from self._post(row.channel, text,
                                       [section(part) for part in pack_lines(text.split("\n"))],
                                       thread_ts=thread_ts, marker=row.dedupe_key, found=found,
                                       event=jobs_ended(jobs))
        self._redraw_announcement(row.channel, incident.announce_key, thread_ts)
        return ts

    def _deliver_cc(self, row: Notification) -> Steps:
        """Groups a notification did not page when it was claimed (a second reason to
        tell its destination came later): paged in that notification's thread."""
        original = int(row.payload["of"])
        thread_ts = self.outbox.thread_of(original)
        if thread_ts is None:
            raise TransientDeliveryError(f"cc of row {original}: not posted yet")
        ts = row.posted_ts
        found: dict[str, str] = {}
        if ts is None and row.in_doubt:
            found = self.messenger.marked(row.channel, thread_ts=thread_ts,
                                          oldest=row.created_at)
            ts = found.get(row.dedupe_key)
        if ts is None:
            job = Job.model_validate(row.payload["job"])
            message = messages.outcome(job, with_image=False,
                                       mention_groups=messages.groups_of(row.payload),
                                       runbook=self.runbook)
            ts = yield from self._post(row.channel, message.text, message.blocks,
                                       thread_ts=thread_ts, marker=row.dedupe_key, found=found)
        # A notification that paged nobody when it was posted has its page opened by
        # the cc (PageStore.open_page): its reminders run from now, in the same thread.
        # (A page that has its message already is left as it is.)
        self.pages.posted(cc_of(row.dedupe_key), thread_ts, self.clock() + self.escalate_after)
        return ts

    def _post(
        self, channel: str, text: str, blocks: Blocks | None, *, marker: str,
        found: dict[str, str], thread_ts: str | None = None, broadcast: bool = False,
        event: Event | None = None,
    ) -> Steps:
        """Post one message marked ``marker``, or, when Slack refuses it for its size, its
        halves marked ``marker/0`` and ``marker/1`` (recursively); returns the ts of the
        first part. Parts already in ``found`` (an earlier attempt's) are not posted
        again, and a part found split is split the same way. ``event`` (the job end it
        tells) goes with the first part only, so a split message tells it once."""
        if marker in found:
            return found[marker]
        split = any(key.startswith(marker + "/") for key in found)
        if not split:
            def post(text: str) -> str:
                ts = self.messenger.post(channel, text=text, blocks=blocks,
                                         thread_ts=thread_ts, reply_broadcast=broadcast,
                                         marker=marker, event=event)
                self.posted.add(marker)
                return ts

            yield  # the sender renews the leases and waits for a pacing token
            try:
                return post(text)
            except MessageTooLong as e:
                if e.error == "msg_too_long" and len(text) > sizing.TEXT_PART:
                    # Only the fallback text is too long: shorten it (it was not posted).
                    text = text[: sizing.TEXT_PART - 1] + "…"
                    yield
                    try:
                        return post(text)
                    except MessageTooLong:
                        pass
                if marker.count("/") >= MAX_SPLIT_DEPTH:
                    raise DeliveryError(f"refused for its size even in small parts: {e}",
                                        error=e.error) from e
                log.info("Slack refused %s for its size (%s); sending it in parts",
                         marker, e.error)
        return (yield from self._post_parts(channel, text, blocks, marker=marker, found=found,
                                            thread_ts=thread_ts, broadcast=broadcast,
                                            event=event))

    def _post_parts(
        self, channel: str, text: str, blocks: Blocks | None, *, marker: str,
        found: dict[str, str], thread_ts: str | None, broadcast: bool,
        event: Event | None = None,
    ) -> Steps:
        parts: list[tuple[str, Blocks | None]]
        if blocks and len(blocks) > 1:
            first, second = sizing.halves(list(blocks))
            parts = [(text, first), (text, second)]
        else:
            # One block alone is too much, or plain text is: its text in plain parts.
            body = sizing.plain_text(list(blocks)) if blocks else text
            parts = [(piece, None) for piece in sizing.text_parts(body)]
            if len(parts) == 1 and not blocks:
                parts = [(p, None) for p in sizing.text_parts(body, len(body) // 2 or 1)]
        tss: list[str] = []
        for index, (part_text, part_blocks) in enumerate(parts):
            tss.append((yield from self._post(
                channel, part_text, part_blocks, marker=f"{marker}/{index}", found=found,
                thread_ts=thread_ts, broadcast=broadcast and index == 0,
                event=event if index == 0 else None)))
        return tss[0]

    def _refresh_tracking_message(self, channel: str, tracking_ts: str, *,
                                  posted: set[int]) -> None:
        """Show the jobs' current states in the tracking message (``chat.update``). A
        job whose reply is not in the thread yet (a burst still being posted) is shown
        as still running, so the message says "all finished" only once the last reply
        (rows ``posted`` just now) is there. The notification is already posted, so
        only failures worth a retry (rate limit, Slack down, token refused) count; a
        message deleted meanwhile does not."""
        jobs = self.store.in_message(channel, tracking_ts)
        if all(j.thread_only for j in jobs):
            return  # none, or a thread under someone's message or an announcement
        keys = {track_key(channel, j.job_id, j.last_state or ""): j.job_id
                for j in jobs if j.closed}
        waiting = {keys[k] for k in self.outbox.pending_keys(list(keys), besides=posted)}
        jobs = [replace(j, closed=False) if j.job_id in waiting else j for j in jobs]
        message = messages.tracking_message(jobs, can_cancel=self.can_cancel)
        try:
            self.messenger.update(channel, tracking_ts, text=message.text, blocks=message.blocks)
        except (RateLimited, TransientDeliveryError, WorkspaceUnavailable):
            raise
        except DeliveryError as e:
            log.warning("tracking message %s in %s not updated: %s", tracking_ts, channel, e)

