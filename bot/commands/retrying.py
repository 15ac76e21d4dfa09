"""Retry a failed job from Slack (the Retry button, ``retry ID``; docs/oncall.md, "Retry").

A retry spends video minutes, so it asks first and acts once:

1. **Ask** (:meth:`Retrier.prompt`): ``RETRY_ALLOWED`` first (a refused person costs no
   upstream call), then the job, fresh: only a failed 2D or photo job is re-created. Its
   detail (``show_script=true``) becomes a create request
   (:func:`bot.domain.recreate.build_recreation`), its assets are checked (a frozen
   model refuses the retry with its reason), and the person sees what will be made, what
   cannot be carried over and the minutes it spends against ``quota``.
2. **Create** (:meth:`Retrier.confirm`): the press claims ``retry:JOB`` in the database
   (two presses at once: one creates, the other is told who does), and the attempt is
   recorded *before* the POST with its output asset name. MetaStudio takes no
   idempotency key: a create that gets no clear answer is looked for by that name and
   its ``create_since`` (:func:`bot.metastudio.creating.find_created`) right away and
   at every later press, before anything is sent again. The new job is tracked where the
   original was told (its tracking thread, or the announcement Retry was pressed on).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..domain.cancel import CancelPolicy
from ..domain.records import RetryRecord
from ..domain.recreate import (
    RETRYABLE_TYPES,
    CallbackConfig,
    CannotRecreate,
    Recreation,
    build_recreation,
    check_assets,
    estimate_minutes,
    retry_asset_name,
)
from ..domain.reply import Reply
from ..metastudio.api import DetailsAPI, JobsAPI
from ..metastudio.assets import AssetLookup, AssetSummary, ForgetsAssets
from ..metastudio.creating import JobCreator, find_created
from ..metastudio.errors import BadRequestError, InDoubtError, MetaStudioError
from ..metastudio.models import Job, JobDetail, JobState
from ..metastudio.operations import Operations, Resource
from ..metastudio.query import valid_job_id
from ..views.format import code, escape, state_label
from ..views.help import notice_reply
from ..views.retry import already_line, in_doubt_line, line_reply, retried_line, retry_prompt
from .types import Context, TrackingCommands

log = logging.getLogger(__name__)

#: A Slack message ts (``1700000000.000100``), the only thread a button value may name.
_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")


class RetryLedger(Protocol):
    """The retries table (:class:`bot.tracking.store.retries.RetryStore`)."""

    def get(self, job_id: str) -> RetryRecord | None: ...
    def sending(self, job_id: str, *, user_id: str, channel: str, asset_name: str,
                photo: bool, now: datetime) -> RetryRecord: ...
    def in_doubt(self, job_id: str, now: datetime) -> None: ...
    def created(self, job_id: str, new_job_id: str, now: datetime) -> None: ...
    def forget(self, job_id: str) -> None: ...


class RetryJobs(JobsAPI, DetailsAPI, Protocol):
    """The jobs client a retry reads: jobs and their details (the cached client)."""


def confirm_value(job_id: str, thread_ts: str | None) -> str:
    """The "Retry now" button's value: the job and the thread to track the new one in."""
    return json.dumps({"j": job_id, "t": thread_ts}, separators=(",", ":"))


def read_confirm_value(value: str) -> tuple[str, str | None] | None:
    """:func:`confirm_value` back, validated (a button value is user-controllable)."""
    try:
        data = json.loads(value)
        job_id, thread_ts = data["j"], data.get("t")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if not isinstance(job_id, str) or not valid_job_id(job_id):
        return None
    if thread_ts is not None and not (isinstance(thread_ts, str) and _TS.match(thread_ts)):
        return None
    return job_id, thread_ts


def thread_of(ctx: Context) -> str | None:
    return ctx.thread_ts if ctx.thread_ts and _TS.match(ctx.thread_ts) else None


@dataclass
class Retried:
    """What a press came to: the answer, the audit log's result, and the job it made
    (or had made before) when there is one."""

    reply: Reply
    result: str = "refused"
    new_job_id: str | None = None


@dataclass
class Retrier:
    """Retry's two steps over the jobs client, the creator, the asset library, the
    retries table and tracking. ``fresh`` looks at a job past the cache."""

    jobs: RetryJobs
    creator: JobCreator
    ledger: RetryLedger
    tracking: TrackingCommands
    policy: CancelPolicy
    fresh: Callable[[str], Job | None]
    clock: Callable[[], datetime]
    assets: AssetLookup | None = None
    operations: Operations | None = None
    #: The bot's own ``callback_config`` for new jobs (METASTUDIO_CALLBACK_URL/KEY).
    callback: CallbackConfig | None = None

    # -- 1. ask ----------------------------------------------------------------------

    def prompt(self, job_id: str, ctx: Context) -> Reply:
        """What a retry of ``job_id`` would create and cost, with "Retry now"."""
        refused = self._refusal(ctx.user_id)
        if refused is not None:
            return refused
        record = self.ledger.get(job_id)
        if record is not None and record.new_job_id is not None:
            return line_reply(already_line(job_id, record.new_job_id, record.user_id))
        job, problem = self._retryable(job_id)
        if job is None:
            return problem or notice_reply(f"No job {code(job_id)} found; nothing to retry.")
        try:
            plan, detail = self._plan(job, self.clock())
        except CannotRecreate as e:
            return line_reply(f"Cannot retry {code(job_id)} from Slack: {escape(str(e))}.")
        check = check_assets(plan.assets, self._summaries(plan))
        if check.refusal is not None:
            return line_reply(f"🛑 Not retried: {escape(check.refusal)}")
        return retry_prompt(job, plan, estimate_minutes(job, detail), self._resources(),
                            confirm_value=confirm_value(job_id, thread_of(ctx)),
                            unchecked=len(check.unchecked))

    # -- 2. create -------------------------------------------------------------------

    def confirm(self, job_id: str, thread_ts: str | None, ctx: Context) -> Reply:
        """Create the retry of ``job_id`` once, whoever presses and however often."""
        reply = self.attempt(job_id, thread_ts, ctx).reply
        reply.replace_original = True
        return reply

    def attempt(self, job_id: str, thread_ts: str | None, ctx: Context, *,
                track: bool = True) -> Retried:
        """:meth:`confirm`'s work, with the new job's id for a caller that is not a
        button (the "Retry video job" step, which tracks nothing: its workflow waits
        with "Wait for video job to end")."""
        refused = self._refusal(ctx.user_id)
        if refused is not None:
            return Retried(refused)
        now = self.clock()
        key = f"retry:{job_id}"
        holder = self.tracking.claim(key, ctx.user_id, now)
        if holder is not None:
            who = "You are" if holder == ctx.user_id else f"<@{holder}> is"
            return Retried(line_reply(f"{who} retrying {code(job_id)} right now; it is "
                                      "created once."))
        try:
            retried = self._create_once(job_id, thread_ts, ctx, now, track=track)
        except MetaStudioError as e:
            self.tracking.record(ctx, "retry", job_id, f"not created: {e.details()}", now)
            raise  # the router explains upstream failures with their request id
        finally:
            self.tracking.release(key, ctx.user_id)
        self.tracking.record(ctx, "retry", job_id, retried.result, now)
        return retried

    def _create_once(self, job_id: str, thread_ts: str | None, ctx: Context,
                     now: datetime, *, track: bool) -> Retried:
        record = self.ledger.get(job_id)
        if record is not None and record.new_job_id is not None:
            return Retried(line_reply(already_line(job_id, record.new_job_id, record.user_id)),
                           f"already retried as {record.new_job_id}", record.new_job_id)
        if record is not None:
            # An earlier press got no clear answer: the job may exist. Look first.
            found = find_created(self.jobs, record.asset_name, record.sent_at,
                                 photo=record.photo)
            if found is not None and found.job_id:
                return self._created(job_id, found.job_id, thread_ts, ctx, now, found=True,
                                     track=track)
        job, problem = self._retryable(job_id)
        if job is None:
            return Retried(problem or notice_reply(f"No job {code(job_id)} found; nothing to "
                                                   "retry."), "not created: no such failed job")
        try:
            plan, _ = self._plan(job, now, asset_name=record.asset_name if record else None)
        except CannotRecreate as e:
            return Retried(line_reply(f"Cannot retry {code(job_id)} from Slack: "
                                      f"{escape(str(e))}."), f"not created: {e}")
        check = check_assets(plan.assets, self._summaries(plan, refresh=True))
        if check.refusal is not None:
            return Retried(line_reply(f"🛑 Not retried: {escape(check.refusal)}"),
                           f"refused: {check.refusal}")
        # Recorded before it is sent: a request that dies mid-POST leaves its name behind.
        attempt = self.ledger.sending(job_id, user_id=ctx.user_id, channel=ctx.channel_id,
                                      asset_name=plan.asset_name, photo=plan.photo, now=now)
        try:
            created = self.creator.create(plan.body, photo=plan.photo)
        except InDoubtError as e:
            self.ledger.in_doubt(job_id, self.clock())
            log.warning("retry of %s in doubt: %s", job_id, e)
            found = find_created(self.jobs, attempt.asset_name, attempt.sent_at,
                                 photo=plan.photo)
            if found is not None and found.job_id:
                return self._created(job_id, found.job_id, thread_ts, ctx, now, track=track)
            return Retried(line_reply(in_doubt_line(job_id, e.request_id)),
                           f"in doubt: {e.details()}")
        except BadRequestError as e:
            self.ledger.forget(job_id)  # refused: nothing was made
            return Retried(line_reply(f"MetaStudio refused to re-create {code(job_id)}: "
                                      f"{escape(e.details())}. Nothing was created."),
                           f"refused: {e.details()}")
        except MetaStudioError:
            self.ledger.forget(job_id)  # 401, 403, 429: refused before anything was made
            raise
        return self._created(job_id, created.job_id, thread_ts, ctx, now, track=track)

    def _created(self, job_id: str, new_job_id: str, thread_ts: str | None, ctx: Context,
                 now: datetime, *, found: bool = False, track: bool) -> Retried:
        self.ledger.created(job_id, new_job_id, now)
        line = retried_line(ctx.user_id, job_id, new_job_id, found=found)
        problem = (self.tracking.track_retry(ctx, job_id, new_job_id, thread_ts, now)
                   if track else None)
        shown = line + (f"\n{problem}" if problem else "")
        return Retried(line_reply(shown), f"created {new_job_id}", new_job_id)

    # -- shared ----------------------------------------------------------------------

    def _refusal(self, user_id: str) -> Reply | None:
        if not self.policy.enabled:
            return notice_reply("Retrying from Slack is off for this bot (`RETRY_ALLOWED`).")
        if not self.policy.allows(user_id):
            return line_reply(f"🔒 Only {self.policy.who()} may retry jobs from Slack: "
                              "a retry spends video minutes.")
        return None

    def _retryable(self, job_id: str) -> tuple[Job | None, Reply | None]:
        """The job when it can be re-created, else None and why not."""
        job = self.fresh(job_id)
        if job is None:
            return None, None
        if job.state != JobState.FAILED:
            state = escape(state_label(job).split(" ", 1)[-1].lower())
            return None, line_reply(f"Nothing retried: {code(job_id)} is {state}; only a "
                                    "failed job is retried.")
        if job.job_type not in RETRYABLE_TYPES:
            return None, line_reply(f"Nothing retried: MetaStudio's create makes 2D and "
                                    f"photo jobs, and {code(job_id)} is "
                                    f"{escape(str(job.job_type or 'of no known type'))}.")
        return job, None

    def _plan(self, job: Job, now: datetime, *,
              asset_name: str | None = None) -> tuple[Recreation, JobDetail]:
        """The create request from the job's detail, read fresh (``show_script=true``)."""
        detail = self.jobs.get_detail(job.job_id, job_type=_type(job), refresh=True)
        if detail is None:
            raise CannotRecreate("MetaStudio returned no detail for it")
        plan = build_recreation(detail, asset_name=asset_name or retry_asset_name(
            job.asset_name, now), callback=self.callback)
        return plan, detail

    def _summaries(self, plan: Recreation, *,
                   refresh: bool = False) -> dict[str, AssetSummary]:
        """The library's word on the plan's assets; nothing known when it cannot be read
        (MetaStudio checks them again at the create)."""
        if self.assets is None or not plan.assets:
            return {}
        if refresh and isinstance(self.assets, ForgetsAssets):
            for ref in plan.assets:  # a freeze since the confirmation must not be missed
                self.assets.invalidate(ref.asset_id)
        try:
            return dict(self.assets.summaries(ref.asset_id for ref in plan.assets))
        except MetaStudioError as e:
            log.info("retry: asset summaries unavailable: %s", e)
            return {}

    def _resources(self) -> list[Resource] | None:
        if self.operations is None:
            return None
        try:
            return self.operations.resources_usage()
        except MetaStudioError as e:
            log.info("retry: resources usage unavailable: %s", e)
            return None


def _type(job: Job) -> str | None:
    return str(job.job_type) if job.job_type else None
