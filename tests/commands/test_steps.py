"""The steps' runner over the real client and the simulator (no Slack): the parser's
words for bad input, upstream errors and bugs as one line, a wait handed to tracking
only for a running job, and the plain-text outputs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.commands.parse import parse_words
from bot.commands.router import Router
from bot.commands.steps import Execution, StepRunner
from bot.commands.types import Context, Invalid, Listing
from bot.domain.stats import ErrorGroup
from bot.domain.steps import GET_JOB, LIST_FAILED, MAX_WAIT, WAIT_FOR_JOB
from bot.metastudio.models import Job
from bot.views.steps import error_summary, plain_line

CTX = Context(user_id="U1", channel_id="", tz=ZoneInfo("UTC"))


class Waits:
    """Tracking's side, recorded."""

    def __init__(self) -> None:
        self.waits: list[tuple[str, str, timedelta, str]] = []
        self.runs: set[str] = set()

    def first(self, execution_id: str, callback_id: str, now: Any) -> bool:
        new = execution_id not in self.runs
        self.runs.add(execution_id)
        return new

    def wait(self, execution_id: str, token: str, job: Job, *, deadline: Any,
             timeout_error: str, now: Any) -> None:
        self.waits.append((execution_id, job.job_id, deadline - now, timeout_error))


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def steps(jobs_client, waits: Waits) -> StepRunner:
    return StepRunner(Router(jobs_client), waits)


def run(steps: StepRunner, callback_id: str, **inputs: Any):
    return steps.run(callback_id, Execution("Fx1", "xwfp-1", inputs), CTX)


def test_a_running_job_is_handed_to_tracking_with_its_deadline(steps, waits, simulator):
    job = simulator.add_job(state="PROCESSING")
    assert run(steps, WAIT_FOR_JOB, job_id=job, max_wait_minutes=2.5).later
    [(execution, waited, wait, error)] = waits.waits
    assert (execution, waited, wait) == ("Fx1", job, timedelta(minutes=2.5))
    assert error.startswith(f"Job `{job}` had not ended 2 min 30 s after the step started")

    assert run(steps, WAIT_FOR_JOB, job_id=job).later
    assert waits.waits[1][2] == MAX_WAIT  # no maximum given: Slack's


def test_an_ended_job_completes_without_tracking(jobs_client, simulator) -> None:
    job = simulator.add_job(state="CANCELED")
    result = StepRunner(Router(jobs_client)).run(
        WAIT_FOR_JOB, Execution("Fx1", "", {"job_id": job}), CTX)
    assert (result.outputs or {})["outcome"] == "canceled"
    running = simulator.add_job(state="PROCESSING")
    assert StepRunner(Router(jobs_client)).run(
        WAIT_FOR_JOB, Execution("Fx2", "", {"job_id": running}), CTX).error == (
        "Waiting is not enabled for this bot (no tracking).")


def test_an_upstream_failure_is_one_line_with_the_request_id(steps, simulator) -> None:
    simulator.faults.fail_next(500, times=10)
    error = run(steps, GET_JOB, job_id="26f06524-4f75").error or ""
    assert error.startswith("Couldn't look up the job: MetaStudio answered HTTP 500")
    assert "request id" in error


def test_a_bug_is_a_reference_not_a_traceback(steps, mocker) -> None:
    mocker.patch.object(steps.router, "fresh", side_effect=RuntimeError("boom"))
    error = run(steps, WAIT_FOR_JOB, job_id="j1").error or ""
    assert error.startswith("Something went wrong on our side (reference ")
    assert "boom" not in error


def test_an_unknown_step_is_refused(steps) -> None:
    assert run(steps, "make_coffee").error == "This app has no step `make_coffee`."


def test_list_failed_passes_every_filter_upstream(steps, simulator) -> None:
    run(steps, LIST_FAILED, window="since 2026-01-31", job_type="photo",
        asset_name='Ana\'s "big" launch')
    params = dict(simulator.requests[-1].params)
    assert (params["state"], params["job_type"], params["asset_name"]) == (
        "FAILED", "PHOTO_DIGITAL_HUMAN_VIDEO", 'Ana\'s "big" launch')
    assert params["create_since"] == "2026-01-31T00:00:00Z"


def test_words_are_parsed_as_typed_commands_are_without_quotes() -> None:
    listing = parse_words(["failed", "7d", "asset=Safety briefing"])
    assert isinstance(listing, Listing) and listing.asset_name == "Safety briefing"
    assert parse_words(["failed", "asset=x", "asset=y"]) == Invalid("`asset=` is given twice.")


def test_plain_lines_and_the_error_summary() -> None:
    assert plain_line("🔒 Only <@U1>, <!subteam^S0OPS|@ops> may cancel jobs from Slack.") == (
        "Only @U1, @S0OPS may cancel jobs from Slack.")
    assert plain_line("Nothing canceled: `a&amp;b` is done") == "Nothing canceled: `a&b` is done"
    assert error_summary([ErrorGroup("E1", "m", 1), ErrorGroup(None, None, 3),
                          ErrorGroup("E1", "other", 1)]) == "no error code × 3, E1 × 2"
