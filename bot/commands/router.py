"""Command -> Reply: every decision the bot makes about a request, for Slack and the
console alike. Listeners only ack, call :meth:`Router.handle` and send the Reply.

Button values are user-controllable input: :mod:`bot.commands.buttons` turns them back
into commands that are validated again, exactly like typed text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol, runtime_checkable

from ..domain import stats, stuck
from ..domain.cancel import CancelPolicy
from ..domain.explain import EXPLAINED, Reason, explain_ended
from ..domain.reply import Reply
from ..domain.runbook import DEFAULT, Runbook
from ..metastudio.api import DetailsAPI, JobsAPI, StagedLookupAPI
from ..metastudio.assets import AssetLookup
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import Job, JobPage, JobState
from ..metastudio.operations import Operations
from ..metastudio.query import JobQuery, valid_job_id
from ..metastudio.side_by_side import settle
from ..telemetry.metrics import COMMANDS
from ..views import actions
from ..views.cards import status_reply
from ..views.errors import doing, upstream_error_line, upstream_error_reply
from ..views.help import help_reply, invalid_reply, notice_reply
from ..views.listings import listing_reply, listing_title
from ..views.quota import quota_reply, warning_line
from ..views.stuck import stuck_reply
from ..views.summary import summary_reply
from . import canceling
from .buttons import Bounds, decode, encode
from .parse import job_ids_problem, parse
from .retrying import Retrier, read_confirm_value
from .types import (
    Audit,
    ChannelSettings,
    Command,
    Context,
    Help,
    Invalid,
    Listing,
    ListReports,
    Mute,
    Quota,
    ReportCommandsAPI,
    Retry,
    ScheduleReport,
    Status,
    Stuck,
    Subscribe,
    Subscriptions,
    Summary,
    Track,
    Tracked,
    TrackingCommands,
    Unmute,
    Unreport,
    Unsubscribe,
    Untrack,
)
from .windows import describe, resolve
from .words import state_word

log = logging.getLogger(__name__)

#: Jobs per listing message: 20 rows stay far inside Slack's 50 blocks / 3000 characters.
PAGE_SIZE = 20
#: What ``audit`` shows without a window.
AUDIT_DEFAULT = timedelta(days=7)
#: Failures read to group by error code; past this the triage block says it is a sample.
TRIAGE_CAP = 1000


@runtime_checkable
class Invalidating(Protocol):  # pragma: no mutate block (isinstance needs its members)
    """The cached client: Refresh drops its entry before looking again."""

    def invalidate(self, job_id: str | None = None) -> None: ...


class Router:
    def __init__(
        self,
        jobs: JobsAPI,
        *,
        tracking: TrackingCommands | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = PAGE_SIZE,
        operations: Operations | None = None,
        cancel_policy: CancelPolicy | None = None,
        quota_warn_percent: float = 10.0,
        reports: ReportCommandsAPI | None = None,
        runbook: Runbook = DEFAULT,
        assets: AssetLookup | None = None,
        retrier: Retrier | None = None,
        side_by_side: bool = True,
    ) -> None:
        self.jobs = jobs
        #: False: the previous design (a summary's reads in two rounds, a status look-up
        #: answered only once every read is done), for the benchmark that compares
        #: against it (``VIDEOJOBS_SEQUENTIAL_READS``); never in production.
        self.side_by_side = side_by_side
        self.tracking = tracking
        self.reports = reports
        self.clock = clock
        self.page_size = page_size
        #: Cancel and resources usage (None: not available, e.g. a bare fake client).
        self.operations = operations
        self.cancel_policy = cancel_policy or CancelPolicy(())
        self.quota_warn_percent = quota_warn_percent
        #: The next step shown for an error code (RUNBOOK_FILE over the built-in hints).
        self.runbook = runbook
        #: The asset library (cached), to say why a job failed; None: cards say nothing.
        self.assets = assets
        #: Re-creating failed jobs (Retry); None: not available (no create client).
        self.retrier = retrier

    # -- entry points ----------------------------------------------------------------

    def handle(self, text: str, ctx: Context) -> Reply:
        """Answer the text of a ``/videojobs`` command."""
        command = parse(text)
        return self._answer(
            _name(command), lambda: self._route(command, text, ctx),
            invalid=isinstance(command, Invalid),
        )

    def handle_action(self, action_id: str, value: str | None, ctx: Context) -> Reply | None:
        """Answer a button click; None for an action this router does not own. ``value``
        is None when a (forged) click carries none; it is then refused like a bad one."""
        handlers = {
            actions.REFRESH: self._refresh,
            actions.TRACK: self._track_button,
            actions.SHOW_MORE: self._show_more,
            actions.POST_TO_CHANNEL: self._post_to_channel,
            actions.NOTIFY_ME: self._notify_button,
            actions.RUN: self._run_button,
            actions.JOBS_WITH_CODE: self._jobs_with_code,
            actions.CANCEL: self._cancel_button,
            actions.ACKNOWLEDGE: self._acknowledge_button,
            actions.SNOOZE: self._snooze_button,
            actions.RETRY: self._retry_button,
            actions.RETRY_CONFIRM: self._retry_confirm_button,
            actions.RETRY_DISMISS: self._retry_dismiss_button,
        }
        handler = handlers.get(action_id)
        if handler is None:
            return None
        return self._answer(f"button:{action_id.removeprefix('videojobs_')}",
                            lambda: handler(value or "", ctx))

    def _answer(self, name: str, work: Callable[[], Reply], *, invalid: bool = False) -> Reply:
        try:
            reply = work()
            outcome = "invalid" if invalid else "ok"
        except MetaStudioError as e:
            log.info("command %s: upstream error %s", name, e)
            reply, outcome = upstream_error_reply(e, doing=doing(name)), "upstream_error"
        except Exception:
            # The user gets a reference to quote; the traceback stays in the log.
            reference = uuid.uuid4().hex[:8]
            log.exception("command %s failed (reference %s)", name, reference)
            reply = notice_reply(
                f"Something went wrong on our side (reference `{reference}`). "
                "Try again; if it keeps happening, tell the bot's admins the reference."
            )
            outcome = "error"
        COMMANDS.labels(command=name, outcome=outcome).inc()
        return reply

    # -- commands --------------------------------------------------------------------------

    def _route(self, command: Command, text: str, ctx: Context) -> Reply:
        match command:
            case Help(unknown=unknown, suggestion=suggestion):
                return help_reply(unknown=unknown, suggestion=suggestion,
                                  suggested_text=_suggested(text, suggestion))
            case Invalid(message=message):
                return invalid_reply(message)
            case Status():
                return self._status(command, ctx, post_value=encode(text, 0))
            case Listing():
                return self._listing(command, ctx, text)
            case Summary():
                return self._summary(command, ctx, post_value=encode(text, 0))
            case Stuck():
                return self._stuck(command, ctx, post_value=encode(text, 0))
            case Quota():
                return self._quota()
            case Retry(job_id=job_id):
                return self._retry(job_id, ctx)
            case ScheduleReport() | ListReports() | Unreport():
                if self.reports is None:
                    return notice_reply("Scheduled reports are not enabled for this bot.")
                return self.reports.handle(command, ctx, self.clock())
        return self._tracking_command(command, ctx)

    def _status(self, command: Status, ctx: Context, *, post_value: str | None,
                refresh: bool = False) -> Reply:
        """Cards for the ids, answered after one round of reads (PRODUCT.md: every
        answer within the upstream latency + 1 s). What needs another round follows as
        the reply's ``followup``, which replaces it: ids the list did not return, looked
        for in both detail operations side by side (a job older than the list's month,
        or a typo), and why failed, blocked or canceled jobs ended."""
        if refresh and isinstance(self.jobs, Invalidating):
            for job_id in command.job_ids:
                self.jobs.invalidate(job_id)
        if not self.side_by_side or not isinstance(self.jobs, StagedLookupAPI):
            found = self.jobs.get_jobs(command.job_ids)
            jobs = [found[i] for i in command.job_ids if i in found]
            return self._status_reply(command, ctx, jobs, post_value=post_value,
                                      explanations=self._explanations(jobs, refresh=refresh))
        listed = self.jobs.list_by_ids(command.job_ids)
        jobs = [listed[i] for i in command.job_ids if i in listed]
        unlisted = [i for i in command.job_ids if i not in listed]
        to_explain = self._explainable(jobs)
        reply = self._status_reply(command, ctx, jobs, post_value=post_value,
                                   looking=bool(unlisted))
        if unlisted or to_explain:
            reply.followup = partial(_guarded, partial(
                self._status_later, command, ctx, listed, unlisted, post_value=post_value,
                refresh=refresh))
        return reply

    def _status_later(self, command: Status, ctx: Context, listed: dict[str, Job],
                      unlisted: list[str], *, post_value: str | None,
                      refresh: bool) -> Reply | None:
        """The status answer once ``unlisted`` ids were looked for among older jobs and
        ended jobs explained; None when there is nothing to change. A look-up that
        failed for an id says so on its line; the cards stay."""
        assert isinstance(self.jobs, StagedLookupAPI)
        found = dict(listed)
        unchecked: dict[str, str] = {}
        if unlisted:
            try:
                older = self.jobs.find_older(unlisted)
            except Exception:
                reference = uuid.uuid4().hex[:8]
                log.exception("status: looking for %d older job(s) failed (reference %s)",
                              len(unlisted), reference)
                older = None
                unchecked = {i: f"Couldn't look for {i} among older jobs: something went "
                                f"wrong on our side (reference {reference})." for i in unlisted}
            if older is not None:
                found.update(older.found)
                unchecked = {i: _why(i, e) for i, e in older.errors.items()}
                if older.errors:
                    log.info("status: %d older look-up(s) failed: %s", len(older.errors),
                             "; ".join(str(e) for e in older.errors.values()))
        jobs = [found[i] for i in command.job_ids if i in found]
        explanations = self._explanations(jobs, refresh=refresh)
        if not unlisted and not explanations:
            return None
        reply = self._status_reply(command, ctx, jobs, post_value=post_value,
                                   explanations=explanations, unchecked=unchecked)
        reply.replace_original = True
        return reply

    def _status_reply(self, command: Status, ctx: Context, jobs: list[Job], *,
                      post_value: str | None,
                      explanations: dict[str, tuple[Reason, ...]] | None = None,
                      looking: bool = False, unchecked: dict[str, str] | None = None) -> Reply:
        found = {job.job_id for job in jobs}
        missing = [i for i in command.job_ids if i not in found]
        return status_reply(jobs, missing, ctx.tz, post_value=post_value, now=self.clock(),
                            can_cancel=self.cancel_policy.enabled and self.operations is not None,
                            runbook=self.runbook, explanations=explanations,
                            can_retry=self.retrier is not None and self.retrier.policy.enabled,
                            looking=looking, unchecked=unchecked)

    def _explainable(self, jobs: list[Job]) -> bool:
        """Whether any of ``jobs`` ended in a way a look-up may explain (and there is a
        way to look)."""
        return (self.assets is not None and isinstance(self.jobs, DetailsAPI)
                and any(_explicable(job) for job in jobs))

    def _explanations(self, jobs: list[Job], *, refresh: bool) -> dict[str, tuple[Reason, ...]]:
        """Why each failed, blocked or canceled job among ``jobs`` ended, from one look-up
        of their details and assets through the cached clients. Nothing to explain, or
        no way to look (no asset client), costs no request; a look-up that fails leaves
        the cards as they were (logged)."""
        if self.assets is None or not isinstance(self.jobs, DetailsAPI):
            return {}
        try:
            return explain_ended(jobs, self.jobs, self.assets, refresh=refresh)
        except MetaStudioError as e:
            log.info("status: could not look up why %d job(s) ended: %s", len(jobs), e)
            return {}

    def _listing(self, command: Listing, ctx: Context, text: str, *,
                 bounds: Bounds | None = None, for_channel: bool = False,
                 error_code: str | None = None) -> Reply:
        """A page of ``command``; ``bounds`` (from a button) replace resolving its window."""
        now = self.clock()
        if bounds is None:
            bounds = resolve(command.window, ctx.tz, now) if command.window else (None, None)
        since, until = bounds
        base = JobQuery(
            states=command.states,
            job_type=command.job_type,
            asset_name=command.asset_name,
            script_id=command.script_id,
            sort_key="create_time",
            sort_dir=command.sort_dir,
            create_since=since,
            create_until=until,
        )
        groups, capped = None, False
        # The buttons carry this answer's bounds, closed at now: resolving "today" again
        # after midnight would page another day, and failures arriving newest first would
        # push rows already shown into the next page.
        pinned = (since, until or now)
        code_buttons: dict[str, str] = {}
        if error_code is not None:
            # "List jobs" of one error code: the API cannot filter by code, so read the
            # window's failures (as the triage block did) and keep that code's.
            _, failures = stats.collect(self.jobs, base, TRIAGE_CAP)
            rows = [j for j in failures if j.error_info and j.error_info.error_code == error_code]
            total = len(rows)
            rows = rows[command.offset : command.offset + self.page_size]
        elif command.states == (JobState.FAILED,) and command.offset == 0:
            # On-call triage: group every failure of the window, not just this page.
            first = self.jobs.list_jobs(base.page(0, stats.PAGE)) if self.side_by_side else None
            if first is not None and first.count > len(first.jobs) and first.jobs:
                # More than a page: answer now, grouped from the newest page, and replace
                # it once the other pages (one round, side by side) are read.
                reply = self._triage(command, ctx, text, now, pinned, first.count,
                                     list(first.jobs), for_channel=for_channel, pending=True)
                reply.followup = partial(_guarded, partial(
                    self._triage_later, command, ctx, text, now, pinned, base, first,
                    for_channel=for_channel))
                return reply
            total, failures = stats.collect(self.jobs, base, TRIAGE_CAP, first=first)
            return self._triage(command, ctx, text, now, pinned, total, failures,
                                for_channel=for_channel)
        else:
            page = self.jobs.list_jobs(base.page(command.offset, self.page_size))
            total, rows = page.count, list(page.jobs)
        shown = command.offset + len(rows)
        title = listing_title(command.states, total, describe(command.window, ctx.tz),
                              job_type=command.job_type, asset_name=command.asset_name,
                              script_id=command.script_id)
        if error_code is not None:
            title = f"{title} · {error_code}"
        # A code's listing pages and posts like any other, its code carried along.
        more = None if for_channel or shown >= total else encode(text, shown, pinned,
                                                                 error_code=error_code)
        post = None if for_channel else encode(text, command.offset, pinned,
                                               error_code=error_code)
        return listing_reply(
            title,
            rows,
            total,
            ctx.tz,
            offset=command.offset,
            error_groups=groups,
            groups_capped=capped,
            more_value=more,
            post_value=post,
            now=now,
            code_buttons=code_buttons,
            runbook=self.runbook,
        )

    def _triage(self, command: Listing, ctx: Context, text: str, now: datetime,
                pinned: Bounds, total: int, failures: list[Job], *, for_channel: bool,
                pending: bool = False) -> Reply:
        """The first page of a failed listing with its failures grouped by error code;
        ``pending``: grouped from the newest page only, the rest still being read."""
        groups = stats.error_groups(failures)
        code_buttons = {}
        for group in groups:
            value = group.error_code and encode(text, 0, pinned, error_code=group.error_code)
            if value:
                code_buttons[group.error_code or ""] = value
        rows = failures[: self.page_size]
        title = listing_title(command.states, total, describe(command.window, ctx.tz),
                              job_type=command.job_type, asset_name=command.asset_name,
                              script_id=command.script_id)
        more = None if for_channel or len(rows) >= total else encode(text, len(rows), pinned)
        post = None if for_channel else encode(text, 0, pinned)
        return listing_reply(title, rows, total, ctx.tz, error_groups=groups,
                             groups_capped=total > len(failures) and not pending,
                             groups_pending=pending, more_value=more, post_value=post,
                             now=now, code_buttons=code_buttons, runbook=self.runbook)

    def _triage_later(self, command: Listing, ctx: Context, text: str, now: datetime,
                      pinned: Bounds, base: JobQuery, first: JobPage, *,
                      for_channel: bool) -> Reply:
        """The triage once every failure (up to :data:`TRIAGE_CAP`) is read: it replaces
        the answer grouped from the newest page. A read that fails leaves that answer
        (logged), saying the groups are from the newest failures only."""
        try:
            total, failures = stats.collect(self.jobs, base, TRIAGE_CAP, first=first)
        except MetaStudioError as e:
            log.info("failed: could not read past the first page: %s", e)
            total, failures = first.count, list(first.jobs)
        reply = self._triage(command, ctx, text, now, pinned, total, failures,
                             for_channel=for_channel)
        reply.replace_original = True
        return reply

    def _summary(self, command: Summary, ctx: Context, *, post_value: str | None) -> Reply:
        now = self.clock()
        since, until = resolve(command.window, ctx.tz, now)
        base = JobQuery(create_since=since, create_until=until)
        label = describe(command.window, ctx.tz)
        if not self.side_by_side:
            return self._summary_in_rounds(base, label, now, post_value=post_value)
        # One round (PRODUCT.md: every answer within the upstream latency + 1 s): a read
        # per state, whose counts need no reading of the window first, the oldest
        # waiting job and the quota, all side by side.
        queries = stats.state_queries(base)
        reads = [partial(self.jobs.list_jobs, query) for query in queries.values()]
        outcomes = settle([*reads, partial(stats.oldest_waiting, self.jobs),
                           self._quota_warning])
        pages = dict(zip(queries, (o.get() for o in outcomes[:len(queries)]), strict=True))
        oldest, quota = outcomes[len(queries):]
        summary = replace(stats.from_state_pages(label, pages), oldest_waiting=oldest.get(),
                          now=now, quota_warning=quota.get())
        return summary_reply(summary, post_value=post_value)

    def _summary_in_rounds(self, base: JobQuery, label: str, now: datetime, *,
                           post_value: str | None) -> Reply:
        """The previous design (the window's first page, then the rest), kept for the
        benchmark that compares against it (``VIDEOJOBS_SEQUENTIAL_READS``)."""
        with ThreadPoolExecutor(max_workers=3) as pool:
            counted = pool.submit(stats.summarize, self.jobs, base, label)
            oldest = pool.submit(stats.oldest_waiting, self.jobs)
            quota = pool.submit(self._quota_warning)
            summary = replace(counted.result(), oldest_waiting=oldest.result(), now=now,
                              quota_warning=quota.result())
        return summary_reply(summary, post_value=post_value)

    def _quota_warning(self) -> str | None:
        """The low-minutes warning, or None (also when usage cannot be read: a summary
        is not refused because the quota call failed)."""
        if self.operations is None:
            return None
        try:
            return warning_line(self.operations.resources_usage(), self.quota_warn_percent)
        except MetaStudioError as e:
            log.info("resources usage unavailable for the summary: %s", e)
            return None

    def _stuck(self, command: Stuck, ctx: Context, *, post_value: str | None) -> Reply:
        now = self.clock()
        unfinished, lines = stuck.read(self.jobs, now, learn=command.older_than is None,
                                       side_by_side=self.side_by_side)
        found = stuck.find_stuck(unfinished, now, older_than=command.older_than, lines=lines)
        return stuck_reply(found, len(unfinished), ctx.tz, now, older_than=command.older_than,
                           lines=lines, post_value=post_value)

    def _quota(self) -> Reply:
        if self.operations is None:
            return notice_reply("Video minutes cannot be read with this bot's MetaStudio client.")
        return quota_reply(self.operations.resources_usage(), self.quota_warn_percent)

    def _tracking_command(self, command: Command, ctx: Context) -> Reply:
        if self.tracking is None:
            return notice_reply("Tracking is not enabled for this bot.")
        now = self.clock()
        match command:
            case Track():
                return self.tracking.track(ctx, command, now)
            case Untrack():
                return self.tracking.untrack(ctx, command)
            case Tracked():
                return self.tracking.tracked(ctx)
            case Subscribe():
                return self.tracking.subscribe(ctx, command, now)
            case Unsubscribe():
                return self.tracking.unsubscribe(ctx, command)
            case Subscriptions():
                return self.tracking.subscriptions(ctx)
            case Mute():
                return self.tracking.mute(ctx, command, now)
            case Unmute():
                return self.tracking.unmute(ctx, command)
            case ChannelSettings():
                return self.tracking.settings(ctx, command, now)
            case Audit():
                since, until = (resolve(command.window, ctx.tz, now) if command.window
                                else (now - AUDIT_DEFAULT, None))
                return self.tracking.audit(ctx, since, until)
        raise AssertionError(f"unrouted command {command!r}")

    # -- buttons ---------------------------------------------------------------------------

    def _refresh(self, value: str, ctx: Context) -> Reply:
        """Look again at the jobs of a status message (space-separated ids) and replace it."""
        job_ids = tuple(dict.fromkeys(value.split()))
        if job_ids_problem(job_ids, "status"):
            return invalid_reply("That button no longer points at a job.")
        reply = self._status(Status(job_ids), ctx,
                             post_value=encode(f"status {' '.join(job_ids)}", 0), refresh=True)
        reply.replace_original = True
        return reply

    def _track_button(self, value: str, ctx: Context) -> Reply:
        if not valid_job_id(value):
            return invalid_reply("That button no longer points at a job.")
        return self._tracking_command(Track((value,)), ctx)

    def _notify_button(self, value: str, ctx: Context) -> Reply:
        if not valid_job_id(value):
            return invalid_reply("That button no longer points at a job.")
        return self._tracking_command(Track((value,), notify_me=True), ctx)

    def _run_button(self, value: str, ctx: Context) -> Reply:
        """"Run `/videojobs failed`" under a typo: the text is parsed like typed text."""
        return self._route(parse(value), value, ctx)

    def _jobs_with_code(self, value: str, ctx: Context) -> Reply:
        decoded = decode(value)
        if decoded is None or not isinstance(decoded.command, Listing) or not decoded.error_code:
            return invalid_reply("That button is out of date; run the command again.")
        return self._listing(decoded.command, ctx, decoded.text, bounds=decoded.bounds,
                             error_code=decoded.error_code)

    def _cancel_button(self, value: str, ctx: Context) -> Reply:
        if not valid_job_id(value):
            return invalid_reply("That button no longer points at a job.")
        tracking, now = self.tracking, self.clock()
        reply = canceling.cancel(
            self.jobs, self.operations, self.cancel_policy, value, ctx,
            fresh=self.fresh, note=tracking.note_in_thread if tracking else None,
            claim=(lambda key: tracking.claim(key, ctx.user_id, now)) if tracking else None,
            release=(lambda key: tracking.release(key, ctx.user_id)) if tracking else None)
        if tracking is not None and reply.text:
            tracking.record(ctx, "cancel", value, reply.text.splitlines()[0][:200], now)
        return reply

    def _acknowledge_button(self, value: str, ctx: Context) -> Reply:
        if self.tracking is None or not value:
            return invalid_reply("That button no longer points at a page.")
        return self.tracking.acknowledge(ctx, value, self.clock())

    def _snooze_button(self, value: str, ctx: Context) -> Reply:
        if self.tracking is None or not value:
            return invalid_reply("That button no longer points at a page.")
        return self.tracking.snooze(ctx, value, self.clock())

    def _retry(self, job_id: str, ctx: Context) -> Reply:
        if self.retrier is None:
            return notice_reply("Retrying from Slack is off for this bot (`RETRY_ALLOWED`).")
        return self.retrier.prompt(job_id, ctx)

    def _retry_button(self, value: str, ctx: Context) -> Reply:
        if not valid_job_id(value):
            return invalid_reply("That button no longer points at a job.")
        return self._retry(value, ctx)

    def _retry_confirm_button(self, value: str, ctx: Context) -> Reply:
        decoded = read_confirm_value(value)
        if decoded is None:
            return invalid_reply("That button no longer points at a job.")
        if self.retrier is None:
            return notice_reply("Retrying from Slack is off for this bot (`RETRY_ALLOWED`).")
        job_id, thread_ts = decoded
        return self.retrier.confirm(job_id, thread_ts, ctx)

    def _retry_dismiss_button(self, value: str, ctx: Context) -> Reply:
        reply = notice_reply("Nothing was retried.")
        reply.replace_original = True
        return reply

    def fresh(self, job_id: str) -> Job | None:
        """The job as MetaStudio shows it now (the cache's entry dropped first)."""
        if isinstance(self.jobs, Invalidating):
            self.jobs.invalidate(job_id)
        return self.jobs.get_jobs([job_id]).get(job_id)

    def _show_more(self, value: str, ctx: Context) -> Reply:
        decoded = decode(value)
        if decoded is None or not isinstance(decoded.command, Listing):
            return invalid_reply("That button is out of date; run the command again.")
        return self._listing(decoded.command, ctx, decoded.text, bounds=decoded.bounds,
                             error_code=decoded.error_code)

    def _post_to_channel(self, value: str, ctx: Context) -> Reply:
        decoded = decode(value)
        if decoded is None:
            return invalid_reply("That button is out of date; run the command again.")
        command, text, bounds, error_code = decoded
        match command:
            case Listing():
                reply = self._listing(command, ctx, text, bounds=bounds, for_channel=True,
                                      error_code=error_code)
            case Status():
                reply = self._status(command, ctx, post_value=None)
            case Summary():
                reply = self._summary(command, ctx, post_value=None)
            case _:
                return invalid_reply("Only status, listings and summaries can be posted.")
        reply.response_type = "in_channel"
        return reply


# -- helpers ---------------------------------------------------------------------------------


def _suggested(text: str, suggestion: str | None) -> str | None:
    """The typed text with its first word replaced by ``suggestion``."""
    if not suggestion:
        return None
    words = text.split()
    if words and words[0].lower() == "/videojobs":
        words = words[1:]
    return " ".join([suggestion, *words[1:]])


def _guarded(later: Callable[[], Reply | None]) -> Reply | None:
    """A follow-up that cannot fail: the answer already given stands (logged, with a
    reference) rather than an error replacing it."""
    try:
        return later()
    except Exception:
        log.exception("a follow-up answer failed (reference %s)", uuid.uuid4().hex[:8])
        return None


def _explicable(job: Job) -> bool:
    """A failed, blocked or canceled job: one :func:`explain_ended` may explain."""
    return job.state in EXPLAINED


def _why(job_id: str, error: MetaStudioError) -> str:
    """The line for an id whose look-up among older jobs failed: what MetaStudio
    answered, with its request id (as every upstream error is shown)."""
    return upstream_error_line(error, doing=f"look for {job_id} among older jobs")


def _name(command: Command) -> str:
    """A metrics label from a closed set."""
    if isinstance(command, Listing):
        return state_word(command.states[0]) if len(command.states) == 1 else "list"
    return type(command).__name__.lower()
