"""Command -> Reply: every decision the bot makes about a request, for Slack and the
console alike. Listeners only ack, call :meth:`Router.handle` and send the Reply.

Button values come back from Slack as user-controllable input, so they carry the
command's text and are parsed and validated again, exactly like a typed command.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from ..metastudio.api import JobsAPI
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import FINISHED_STATES, Job, JobPage, JobState
from ..metastudio.query import JobQuery, valid_job_id
from ..metrics import COMMANDS
from ..views import actions
from ..views.cards import status_reply
from ..views.errors import upstream_error_reply
from ..views.format import state_emoji
from ..views.help import help_reply, invalid_reply, notice_reply
from ..views.listings import ErrorGroup, listing_reply
from ..views.summary import SummaryStats, summary_reply
from .parse import MAX_IDS, STATE_COMMANDS, STATE_WORDS, parse
from .reports import ReportCommands
from .types import (
    Command,
    Context,
    Help,
    Invalid,
    Listing,
    ListReports,
    Reply,
    ScheduleReport,
    Status,
    Subscribe,
    Subscriptions,
    Summary,
    Track,
    Tracked,
    TrackingCommands,
    Unreport,
    Unsubscribe,
    Untrack,
)
from .windows import describe, resolve

log = logging.getLogger(__name__)

#: Jobs per listing message: 20 rows stay far inside Slack's 50 blocks / 3000 characters.
PAGE_SIZE = 20
#: Failures read to group by error code; past this the summary says it is a sample.
TRIAGE_CAP = 1000
#: A summary reads every job of its window up to this many, else counts per state.
SUMMARY_FULL_READ = 500
#: Slack's limit on a button value.
MAX_BUTTON_VALUE = 2000
#: Offsets a "Show more" value may carry (a forged value must not page forever).
MAX_OFFSET = 10_000
#: Latest instant a button value's bounds may name (2100-01-01, epoch seconds).
MAX_EPOCH = 4_102_444_800

#: A listing's ``(create_since, create_until)`` in UTC.
Bounds = tuple[datetime | None, datetime | None]


@runtime_checkable
class Invalidating(Protocol):
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
        reports: ReportCommands | None = None,
    ) -> None:
        self.jobs = jobs
        self.tracking = tracking
        self.reports = reports
        self.clock = clock
        self.page_size = page_size

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
            reply, outcome = upstream_error_reply(e, doing=_doing(name)), "upstream_error"
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
                return help_reply(unknown=unknown, suggestion=suggestion)
            case Invalid(message=message):
                return invalid_reply(message)
            case Status():
                return self._status(command, ctx, post_value=_value(text, 0))
            case Listing():
                return self._listing(command, ctx, text)
            case Summary():
                return self._summary(command, ctx, post_value=_value(text, 0))
            case ScheduleReport() | ListReports() | Unreport():
                if self.reports is None:
                    return notice_reply("Scheduled reports are not enabled for this bot.")
                return self.reports.handle(command, ctx, self.clock())
        return self._tracking_command(command, ctx)

    def _status(self, command: Status, ctx: Context, *, post_value: str | None,
                refresh: bool = False) -> Reply:
        if refresh and isinstance(self.jobs, Invalidating):
            for job_id in command.job_ids:
                self.jobs.invalidate(job_id)
        found = self.jobs.get_jobs(command.job_ids)
        jobs = [found[i] for i in command.job_ids if i in found]
        missing = [i for i in command.job_ids if i not in found]
        return status_reply(jobs, missing, ctx.tz, post_value=post_value)

    def _listing(self, command: Listing, ctx: Context, text: str, *,
                 bounds: Bounds | None = None, for_channel: bool = False) -> Reply:
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
        if command.states == (JobState.FAILED,) and command.offset == 0:
            # On-call triage: group every failure of the window, not just this page.
            total, failures = self._collect(base, TRIAGE_CAP)
            groups = _error_groups(failures)
            capped = total > len(failures)
            rows = failures[: self.page_size]
        else:
            page = self.jobs.list_jobs(base.page(command.offset, self.page_size))
            total, rows = page.count, list(page.jobs)
        shown = command.offset + len(rows)
        # The buttons carry this answer's bounds, closed at now: resolving "today" again
        # after midnight would page another day, and failures arriving newest first would
        # push rows already shown into the next page.
        pinned = (since, until or now)
        return listing_reply(
            _title(command, ctx, total),
            rows,
            total,
            ctx.tz,
            offset=command.offset,
            error_groups=groups,
            groups_capped=capped,
            more_value=None if for_channel or shown >= total else _value(text, shown, pinned),
            post_value=None if for_channel else _value(text, command.offset, pinned),
        )

    def _summary(self, command: Summary, ctx: Context, *, post_value: str | None) -> Reply:
        since, until = resolve(command.window, ctx.tz, self.clock())
        base = JobQuery(create_since=since, create_until=until)
        first = self.jobs.list_jobs(base.page(0, 100))
        if first.count <= SUMMARY_FULL_READ:
            _, jobs = self._collect(base, SUMMARY_FULL_READ, first=first)
            counts = Counter(job.state_name for job in jobs)
            sampled = None
        else:
            counts, jobs = self._counts_and_samples(base)
            sampled = len(jobs)
        stats = _stats(describe(command.window, ctx.tz), counts, jobs, sampled)
        return summary_reply(stats, post_value=post_value)

    def _counts_and_samples(self, base: JobQuery) -> tuple[Counter[str], list[Job]]:
        """Too many jobs to read: one ``limit=1`` call per state gives exact counts (the
        answer's ``count``), and a capped read of failures and successes gives the error
        codes and durations. The calls run side by side; a slow API costs one wait."""
        with ThreadPoolExecutor(max_workers=len(JobState)) as pool:
            counts = dict(zip(
                JobState,
                pool.map(lambda s: self.jobs.list_jobs(
                    base.model_copy(update={"states": (s,), "limit": 1})).count, JobState),
                strict=True,
            ))
            samples = pool.map(
                lambda s: self._collect(base.model_copy(update={"states": (s,)}), 200)[1],
                (JobState.FAILED, JobState.SUCCEED),
            )
            jobs = [job for sample in samples for job in sample]
        return Counter({state.value: n for state, n in counts.items()}), jobs

    def _collect(self, query: JobQuery, cap: int, *, first: JobPage | None = None
                 ) -> tuple[int, list[Job]]:
        """(count of all matches, up to ``cap`` of them), paging 100 at a time."""
        first = first or self.jobs.list_jobs(query.page(0, 100))
        jobs = list(first.jobs)
        if first.count > len(jobs) and len(jobs) < cap:
            rest = self.jobs.iter_jobs(query.page(len(jobs), 100), max_jobs=cap - len(jobs))
            jobs.extend(rest)
        return first.count, jobs[:cap]

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
        raise AssertionError(f"unrouted command {command!r}")

    # -- buttons ---------------------------------------------------------------------------

    def _refresh(self, value: str, ctx: Context) -> Reply:
        """Look again at the jobs of a status message (space-separated ids) and replace it."""
        job_ids = tuple(dict.fromkeys(value.split()))
        if not 0 < len(job_ids) <= MAX_IDS or not all(map(valid_job_id, job_ids)):
            return invalid_reply("That button no longer points at a job.")
        reply = self._status(Status(job_ids), ctx,
                             post_value=_value(f"status {' '.join(job_ids)}", 0), refresh=True)
        reply.replace_original = True
        return reply

    def _track_button(self, value: str, ctx: Context) -> Reply:
        if not valid_job_id(value):
            return invalid_reply("That button no longer points at a job.")
        return self._tracking_command(Track((value,)), ctx)

    def _show_more(self, value: str, ctx: Context) -> Reply:
        decoded = _decode(value)
        if decoded is None or not isinstance(listing := decoded[0], Listing):
            return invalid_reply("That button is out of date; run the command again.")
        _, text, bounds = decoded
        return self._listing(listing, ctx, text, bounds=bounds)

    def _post_to_channel(self, value: str, ctx: Context) -> Reply:
        decoded = _decode(value)
        if decoded is None:
            return invalid_reply("That button is out of date; run the command again.")
        command, text, bounds = decoded
        match command:
            case Listing():
                reply = self._listing(command, ctx, text, bounds=bounds, for_channel=True)
            case Status():
                reply = self._status(command, ctx, post_value=None)
            case Summary():
                reply = self._summary(command, ctx, post_value=None)
            case _:
                return invalid_reply("Only status, listings and summaries can be posted.")
        reply.response_type = "in_channel"
        return reply


# -- helpers ---------------------------------------------------------------------------------


def _value(text: str, offset: int, bounds: Bounds | None = None) -> str | None:
    """A button value carrying the command text, an offset and, for listings, the bounds
    of the answer (epoch seconds; ``until`` always set); None if too long."""
    data: dict[str, object] = {"t": text.strip(), "o": offset}
    if bounds is not None:
        since, until = bounds
        assert until is not None
        data["s"] = int(since.timestamp()) if since else None
        data["u"] = int(until.timestamp())
    value = json.dumps(data, separators=(",", ":"))
    return value if len(value) <= MAX_BUTTON_VALUE else None


def _decode(value: str) -> tuple[Command, str, Bounds | None] | None:
    """A button value back to (command at its offset, text, bounds), validated like typed
    text: a value is user-controllable input."""
    try:
        data = json.loads(value)
        text, offset = data["t"], data["o"]
    # RecursionError: a forged value of deeply nested brackets ("[[[[…") exhausts the
    # JSON decoder's stack; it is as out of date as any other value we did not make.
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(text, str) or not _whole(offset, MAX_OFFSET):
        return None
    bounds: Bounds | None = None
    if "u" in data:
        since, until = data.get("s"), data["u"]
        if not _whole(until, MAX_EPOCH) or not (since is None or _whole(since, until)):
            return None
        bounds = (_utc(since) if since is not None else None, _utc(until))
    command = parse(text)
    if isinstance(command, Listing):
        command = Listing(**{**command.__dict__, "offset": offset})
    return (command, text, bounds) if isinstance(command, Listing | Status | Summary) else None


def _whole(number: object, maximum: int) -> bool:
    """A JSON integer from 0 to ``maximum`` (not a bool, which Python counts as an int)."""
    return isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= maximum


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _name(command: Command) -> str:
    """A metrics label from a closed set."""
    if isinstance(command, Listing):
        if len(command.states) == 1:
            return next(w for w in STATE_COMMANDS if STATE_WORDS[w] is command.states[0])
        return "list"
    return type(command).__name__.lower()


def _doing(name: str) -> str:
    return {
        "status": "look up those jobs",
        "summary": "build the summary",
        "track": "look up the jobs to track",
        "button:refresh": "refresh the job",
    }.get(name, "list the jobs")


def _title(command: Listing, ctx: Context, total: int) -> str:
    """``❌ 7 failed jobs · today (Europe/Berlin)``."""
    if len(command.states) == 1:
        state = command.states[0]
        word = next(w for w in STATE_COMMANDS if STATE_WORDS[w] is state)
        what = f"{state_emoji(state)} {total} {word}"
    elif command.states:
        what = f"{total} " + " or ".join(s.value.lower() for s in command.states)
    else:
        what = str(total)
    filters = [
        f"type {command.job_type.value}" if command.job_type else "",
        f'asset "{command.asset_name}"' if command.asset_name else "",
        f"script {command.script_id}" if command.script_id else "",
    ]
    extra = ", ".join(f for f in filters if f)
    jobs = "job" if total == 1 else "jobs"
    return f"{what} {jobs} · {describe(command.window, ctx.tz)}" + (
        f" · {extra}" if extra else "")


def _error_groups(failures: list[Job]) -> list[ErrorGroup]:
    counts = Counter(
        (job.error_info.error_code if job.error_info else None,
         job.error_info.error_msg if job.error_info else None)
        for job in failures
    )
    return [ErrorGroup(code, msg, n) for (code, msg), n in counts.most_common()]


def _stats(label: str, counts: Counter[str], jobs: list[Job], sampled: int | None) -> SummaryStats:
    for state in JobState:
        counts.setdefault(state.value, 0)
    finished = sum(counts[s.value] for s in FINISHED_STATES)
    failed = counts[JobState.FAILED.value]
    durations = [j.run_seconds for j in jobs if j.state is JobState.SUCCEED and j.run_seconds]
    return SummaryStats(
        window_label=label,
        counts=dict(counts),
        failure_rate=failed / finished if finished else None,
        top_errors=_error_groups([j for j in jobs if j.state is JobState.FAILED])[:5],
        mean_succeeded_seconds=sum(durations) / len(durations) if durations else None,
        sampled=sampled,
    )
