"""Workflow Builder custom steps: their callback ids (manifest.yaml's ``functions``), what
a job looks like as step outputs, how long a step may wait, and the completing of a step
as a protocol with its errors (the Slack side is :mod:`bot.slack.step_completer`).

A step ends with exactly one ``functions.completeSuccess`` (outputs) or
``functions.completeError`` (an error line), sent with the token Slack gave that
execution in its ``function_executed`` event
(https://docs.slack.dev/reference/events/function_executed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from ..metastudio.models import Job, JobState
from .messaging import DeliveryError

GET_JOB = "get_video_job"
WAIT_FOR_JOB = "wait_for_video_job"
LIST_FAILED = "list_failed_video_jobs"
CANCEL_JOB = "cancel_video_job"
RETRY_JOB = "retry_video_job"
STEPS = (GET_JOB, WAIT_FOR_JOB, LIST_FAILED, CANCEL_JOB, RETRY_JOB)

#: The token of a step's execution (``bot_access_token`` in ``function_executed``) lasts
#: 15 minutes from its issue, or until the step completes, whichever comes first: Slack's
#: answer in https://github.com/slackapi/bolt-python/issues/1075 (2024-05; the event's
#: reference page says nothing of its lifetime). A wait is completed with that token, so
#: it can last at most this long; the minute left is for the completion itself.
TOKEN_LIFETIME = timedelta(minutes=15)
MAX_WAIT = timedelta(minutes=14)

#: What ``outcome`` says of a job that ended, for the next step to branch on.
OUTCOMES = {JobState.SUCCEED: "succeeded", JobState.FAILED: "failed",
            JobState.CANCELED: "canceled", JobState.BLOCK: "blocked"}


def job_outputs(job: Job) -> dict[str, Any]:
    """A job as the outputs of "Get video job" (and of the wait): every value MetaStudio
    gave, none that it did not (Slack refuses a null output). Times are Unix seconds
    (``slack#/types/timestamp``)."""
    asset = job.output_asset_config
    error = job.error_info
    values: dict[str, Any] = {
        "job_id": job.job_id,
        "state": job.state_name,
        "ended": job.is_finished,
        "job_type": str(job.job_type) if job.job_type is not None else None,
        "asset_name": asset.asset_name if asset else None,
        "cover_url": asset.cover_url if asset else None,
        "preview_url": asset.preview_video_url if asset else None,
        "duration": job.duration,
        "error_code": error.error_code if error else None,
        "error_message": error.error_msg if error else None,
        "created_at": int(job.create_time.timestamp()) if job.create_time else None,
        "ended_at": int(job.end_time.timestamp()) if job.end_time else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def ended_outputs(job: Job) -> dict[str, Any]:
    """The outputs of a wait that saw ``job`` end: the job, and its outcome."""
    outcome = OUTCOMES.get(job.state) if isinstance(job.state, JobState) else None
    return {**job_outputs(job), "outcome": outcome or job.state_name.lower(),
            "succeeded": job.state == JobState.SUCCEED}


class StepGone(DeliveryError):
    """Slack no longer takes a completion of this execution (``execution_not_in_running
    _state``, ``function_execution_not_found``): it was completed already, or the
    workflow ended without it."""


class StepCompleter(Protocol):
    """Completes a step's execution with its own token. Raises the errors of
    :mod:`bot.domain.messaging` (a rate limit, a transient failure) or :class:`StepGone`;
    a token Slack refuses is a plain :class:`DeliveryError`, never a workspace pause:
    it is only this execution's."""

    def complete(self, execution_id: str, token: str, outputs: Mapping[str, Any]) -> None: ...

    def fail(self, execution_id: str, token: str, error: str) -> None: ...
