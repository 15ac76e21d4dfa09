"""Workflow Builder custom steps (manifest.yaml's ``functions``; docs/surfaces.md,
"Workflow steps"): a step's inputs in, its outputs or one error line out, through the
router's services: the cached client, the cancel policy, the parser's rules and words,
the same metrics (``videojobs_commands_total``, ``command="step:<callback id>"``).

- ``get_video_job``: the job's state, type, asset, cover and preview URLs, video length,
  error, created and ended times.
- ``wait_for_video_job``: completes when the job ends, with its outputs and an
  ``outcome`` to branch on; a job still running is handed to tracking
  (:class:`StepWaitsAPI`), which completes the step later, once, from the poller's and
  the callbacks' observations. At the maximum wait it completes with an error.
- ``list_failed_video_jobs``: the failures of a window (``failed``'s rules), counted, by
  error code, and as text for a message step.
- ``cancel_video_job``: the Cancel button's rule (``CANCEL_ALLOWED``) for the person who
  runs the workflow.
- ``retry_video_job``: the Retry button's create-once (``RETRY_ALLOWED``, the claim, the
  attempt recorded before the POST) for the person who runs the workflow; the new job is
  an output for "Wait for video job to end", not tracked in a channel.

Bad input is refused with the parser's one line, before any upstream call.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain import stats
from ..domain.steps import (
    CANCEL_JOB,
    GET_JOB,
    LIST_FAILED,
    MAX_WAIT,
    RETRY_JOB,
    WAIT_FOR_JOB,
    ended_outputs,
    job_outputs,
)
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import Job, JobState
from ..metastudio.query import JobQuery, SortKey
from ..telemetry.metrics import COMMANDS
from ..views import steps as words
from ..views.errors import upstream_error_line
from . import canceling
from .parse import job_ids_problem, parse_words
from .router import TRIAGE_CAP, Router
from .types import Context, Invalid, Listing
from .windows import describe, resolve

log = logging.getLogger(__name__)

#: What each step does, for "Couldn't …" when MetaStudio fails it.
_DOING = {GET_JOB: "look up the job", WAIT_FOR_JOB: "look up the job",
          LIST_FAILED: "list the failed jobs", CANCEL_JOB: "cancel the job",
          RETRY_JOB: "re-create the job"}


@dataclass(frozen=True)
class Execution:
    """One run of a step: Slack's ``function_execution_id``, the token it gave the run
    (to complete it with), and the step's inputs as Slack sent them."""

    execution_id: str
    token: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    """Outputs to complete the step with now, or its error line; neither: the step
    completes later (a wait handed to tracking)."""

    outputs: dict[str, Any] | None = None
    error: str | None = None

    @property
    def later(self) -> bool:
        return self.outputs is None and self.error is None


class StepWaitsAPI(Protocol):
    """Tracking's side of the steps (:class:`bot.tracking.polling.waits.StepWaits`)."""

    def first(self, execution_id: str, callback_id: str, now: datetime) -> bool: ...

    def wait(self, execution_id: str, token: str, job: Job, *, deadline: datetime,
             timeout_error: str, now: datetime) -> None: ...


class _Refused(Exception):
    """Bad input: the step's error line, in the parser's words."""


class StepRunner:
    """Runs steps for the listener (:mod:`bot.slack.listeners.steps`)."""

    def __init__(self, router: Router, waits: StepWaitsAPI | None = None) -> None:
        self.router = router
        self.waits = waits

    def first_run(self, callback_id: str, execution: Execution) -> bool:
        """False when this execution ran already (Slack delivered it again)."""
        if self.waits is None:
            return True
        return self.waits.first(execution.execution_id, callback_id, self.router.clock())

    def run(self, callback_id: str, execution: Execution, ctx: Context) -> StepResult:
        """The step's result; never raises (a bug is an error line with a reference,
        the traceback in the log), and counts it like a command."""
        steps: dict[str, Callable[[Execution, Context], StepResult]] = {
            GET_JOB: self._get, WAIT_FOR_JOB: self._wait, LIST_FAILED: self._list_failed,
            CANCEL_JOB: self._cancel, RETRY_JOB: self._retry,
        }
        step = steps.get(callback_id)
        if step is None:
            return StepResult(error=f"This app has no step `{callback_id}`.")
        name = f"step:{callback_id}"
        try:
            result, outcome = step(execution, ctx), "ok"
        except _Refused as e:
            result, outcome = StepResult(error=str(e)), "invalid"
        except MetaStudioError as e:
            log.info("%s: upstream error %s", name, e)
            line = upstream_error_line(e, doing=_DOING.get(callback_id, "run the step"))
            result, outcome = StepResult(error=f"{line} {e.hint}"), "upstream_error"
        except Exception:
            reference = uuid.uuid4().hex[:8]
            log.exception("%s failed (reference %s)", name, reference)
            result, outcome = StepResult(error=(
                f"Something went wrong on our side (reference {reference}). Run the "
                "workflow again; if it keeps happening, tell the bot's admins the "
                "reference.")), "error"
        COMMANDS.labels(command=name, outcome=outcome).inc()
        return result

    # -- the steps ----------------------------------------------------------------------

    def _get(self, execution: Execution, ctx: Context) -> StepResult:
        job_id = _job_id(execution.inputs)
        job = self.router.jobs.get_jobs([job_id]).get(job_id)
        if job is None:
            return StepResult(error=f"No job `{job_id}` found.")
        return StepResult(outputs=job_outputs(job))

    def _wait(self, execution: Execution, ctx: Context) -> StepResult:
        job_id = _job_id(execution.inputs)
        wait = _max_wait(execution.inputs.get("max_wait_minutes"))
        job = self.router.fresh(job_id)
        if job is None:
            return StepResult(error=f"No job `{job_id}` found; there is nothing to wait for.")
        if job.is_finished:
            return StepResult(outputs=ended_outputs(job))
        if self.waits is None:
            return StepResult(error="Waiting is not enabled for this bot (no tracking).")
        now = self.router.clock()
        self.waits.wait(execution.execution_id, execution.token, job, deadline=now + wait,
                        timeout_error=words.timed_out(job_id, wait, now), now=now)
        return StepResult()

    def _list_failed(self, execution: Execution, ctx: Context) -> StepResult:
        inputs = execution.inputs
        window = _text(inputs.get("window")) or "today"
        filters = [f"{key}={value}" for key, value in
                   (("type", _text(inputs.get("job_type"))),
                    ("asset", _text(inputs.get("asset_name")))) if value]
        command = parse_words(["failed", *window.split(), *filters])
        if isinstance(command, Invalid):
            raise _Refused(command.message)
        assert isinstance(command, Listing) and command.window is not None
        now = self.router.clock()
        since, until = resolve(command.window, ctx.tz, now)
        query = JobQuery(states=(JobState.FAILED,), job_type=command.job_type,
                         asset_name=command.asset_name, sort_key=SortKey.CREATE_TIME,
                         sort_dir="desc", create_since=since, create_until=until)
        total, failures = stats.collect(self.router.jobs, query, TRIAGE_CAP)
        groups = stats.error_groups(failures)
        title = words.failed_title(total, describe(command.window, ctx.tz))
        return StepResult(outputs={
            "count": total, "error_summary": words.error_summary(groups),
            "formatted_list": words.failed_list(title, total, groups, failures, ctx.tz),
        })

    def _cancel(self, execution: Execution, ctx: Context) -> StepResult:
        job_id = _job_id(execution.inputs)
        if not ctx.user_id:
            raise _Refused("This step cancels for the person who runs the workflow: set "
                           "its Person input to “Person who used this workflow”.")
        result = canceling.attempt(self.router.operations, self.router.cancel_policy,
                                   job_id, ctx.user_id, fresh=self.router.fresh)
        if not result.canceled:
            return StepResult(error=words.plain_line(result.line))
        job = result.job
        return StepResult(outputs={"job_id": job_id, "canceled_by": ctx.user_id,
                                   "state": job.state_name if job else "CANCELED"})

    def _retry(self, execution: Execution, ctx: Context) -> StepResult:
        job_id = _job_id(execution.inputs)
        if not ctx.user_id:
            raise _Refused("This step retries for the person who runs the workflow: set "
                           "its Person input to “Person who used this workflow”.")
        retrier = self.router.retrier
        if retrier is None:
            return StepResult(error="Retrying is not set up for this bot.")
        retried = retrier.attempt(job_id, None, ctx, track=False)
        if retried.new_job_id is None:
            return StepResult(error=words.plain_line(retried.reply.text))
        return StepResult(outputs={"job_id": job_id, "new_job_id": retried.new_job_id,
                                   "created": retried.result.startswith("created")})


# -- inputs ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _job_id(inputs: Mapping[str, Any]) -> str:
    """The ``job_id`` input, by the rule every job id meets (the parser's words)."""
    job_id = _text(inputs.get("job_id"))
    problem = job_ids_problem((job_id,), "status") if job_id else (
        "The step needs a job id, e.g. `26f06524-4f75-4b3a-a853-b649a21aaf66`.")
    if problem:
        raise _Refused(problem)
    return job_id


def _max_wait(value: Any) -> timedelta:
    """``max_wait_minutes``: a number of minutes up to :data:`MAX_WAIT` (the default)."""
    if value is None or value == "":
        return MAX_WAIT
    limit = int(MAX_WAIT.total_seconds() // 60)
    try:
        minutes = float(value)
    except (TypeError, ValueError):
        minutes = math.nan
    if not 0 < minutes <= limit:  # also refuses nan and infinity
        raise _Refused(
            f"`{str(value)[:20]}` is not a maximum wait: give a number of minutes, at most "
            f"{limit} (Slack takes a step's completion for 15 minutes after it starts).")
    return timedelta(minutes=minutes)
