"""Workflow Builder's custom steps end to end in one process: ``function_executed``
signed and posted as Slack posts it, each step completed once through
``functions.completeSuccess`` / ``completeError`` with the execution's token, with the
outputs the manifest declares (the fake Slack checks them). The real processes, a
restart and Socket Mode: tests/slack/test_steps_processes.py."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.steps import CANCEL_JOB, GET_JOB, LIST_FAILED, RETRY_JOB, WAIT_FOR_JOB
from bot.slack.services import Services
from bot.telemetry.metrics import REGISTRY
from tests.fakes.slack import Completion, FakeSlack
from tests.fixtures.app import SlackSender
from tests.fixtures.simulator import add_failed_2d

UNKNOWN = "0badc0de-0000-4000-8000-000000000000"


@pytest.fixture
def bot_settings(bot_settings):
    """Cancel and retry allowed to U1 directly and to the members of S0ONCALL."""
    return bot_settings.model_copy(update={"cancel_allowed": "U1, S0ONCALL",
                                           "retry_allowed": "U1, S0ONCALL"})


def run(slack: SlackSender, callback_id: str, **inputs: Any) -> Completion:
    """Start the step as Slack does; its one completion."""
    body, execution = slack.fake.function_executed(callback_id, inputs)
    sent = slack.event(body)
    assert (sent.status, sent.body) == (200, ""), sent
    done = slack.fake.wait_for_completion(execution.id)
    assert done is not None, f"{callback_id} never completed"
    return done


def _counted(step: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("videojobs_commands_total",
                                     {"command": f"step:{step}", "outcome": outcome}) or 0.0


def test_get_video_job_outputs_the_job(slack: SlackSender, simulator) -> None:
    job = simulator.add_job(state="SUCCEED", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                            asset_name="Quarterly update", video_seconds=42.0)
    failed = simulator.add_job(state="FAILED", error_code="MSS.10001001",
                               error_msg="Asset not found")
    before = _counted(GET_JOB, "ok")

    done = run(slack, GET_JOB, job_id=job)
    why = run(slack, GET_JOB, job_id=failed)

    outputs, shown = done.outputs or {}, simulator.jobs[job]
    assert (outputs["job_id"], outputs["state"], outputs["ended"]) == (job, "SUCCEED", True)
    assert outputs["job_type"] == "PHOTO_DIGITAL_HUMAN_VIDEO"
    assert (outputs["asset_name"], outputs["duration"]) == ("Quarterly update", 42.0)
    assert outputs["cover_url"] == shown["output_asset_config"]["cover_url"]
    assert outputs["preview_url"] == shown["output_asset_config"]["preview_video_url"]
    assert isinstance(outputs["created_at"], int) and outputs["ended_at"] >= outputs[
        "created_at"]
    assert "error_code" not in outputs  # no null outputs: Slack refuses them
    assert ((why.outputs or {})["error_code"], (why.outputs or {})["error_message"]) == (
        "MSS.10001001", "Asset not found")
    assert _counted(GET_JOB, "ok") == before + 2  # the commands' metric, as steps


def test_a_bad_job_id_is_the_parsers_line_and_asks_nothing_upstream(
        slack: SlackSender, simulator) -> None:
    done = run(slack, GET_JOB, job_id="26f06524/../quota")

    assert done.error == ("`26f06524/../quota` is not a job id: use letters, digits, `-` "
                          "and `_`, at most 64.")
    assert simulator.requests == []


def test_an_unknown_job_fails_the_step(slack: SlackSender) -> None:
    assert run(slack, GET_JOB, job_id=UNKNOWN).error == f"No job `{UNKNOWN}` found."


def test_list_failed_counts_groups_and_formats(slack: SlackSender, simulator) -> None:
    for code, msg in [("MSS.10001001", "Asset not found")] * 2 + [("MSS.00000004", "Oops")]:
        simulator.add_job(state="FAILED", asset_name="Launch teaser", error_code=code,
                          error_msg=msg)
    simulator.add_job(state="FAILED", job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    simulator.add_job(state="SUCCEED")

    done = run(slack, LIST_FAILED, window="24h", job_type="2d", asset_name="Launch teaser")

    outputs = done.outputs or {}
    assert outputs["count"] == 3
    assert outputs["error_summary"] == "MSS.10001001 × 2, MSS.00000004 × 1"
    lines = outputs["formatted_list"].splitlines()
    assert lines[0] == "3 failed jobs · last 24h"
    assert lines[1] == "MSS.10001001 Asset not found × 2"
    assert sum(line.startswith("• ") for line in lines) == 3


@pytest.mark.parametrize(("inputs", "says"), [
    ({"window": "fortnight"}, "`fortnight` is not understood by `failed`; give a time window"),
    ({"job_type": "video"}, "`type=video` is not a job type; use `type=2d` or `type=photo`."),
    ({"window": "99999d"}, "`99999d` is out of range"),
])
def test_list_failed_refuses_bad_inputs_in_the_parsers_words(
        slack: SlackSender, simulator, inputs: dict[str, str], says: str) -> None:
    before = _counted(LIST_FAILED, "invalid")
    assert says in (run(slack, LIST_FAILED, **inputs).error or "")
    assert simulator.requests == []
    assert _counted(LIST_FAILED, "invalid") == before + 1


def test_cancel_by_someone_not_allowed_makes_no_post(slack: SlackSender, simulator) -> None:
    job = simulator.add_job(state="WAITING")

    done = run(slack, CANCEL_JOB, job_id=job, user={"id": "U6", "secret": "s"})

    assert done.error == "Only @U1, @S0ONCALL may cancel jobs from Slack."
    assert not [r for r in simulator.requests if r.method == "POST"]
    assert simulator.jobs[job]["state"] == "WAITING"


def test_cancel_by_an_allowed_person(slack: SlackSender, simulator) -> None:
    slack.fake.usergroups["S0ONCALL"] = ["U5"]
    job = simulator.add_job(state="WAITING")
    running = simulator.add_job(state="PROCESSING")

    done = run(slack, CANCEL_JOB, job_id=job, user={"id": "U5", "secret": "s"})
    refused = run(slack, CANCEL_JOB, job_id=running, user={"id": "U1", "secret": "s"})

    assert done.outputs == {"job_id": job, "state": "CANCELED", "canceled_by": "U5"}
    assert refused.error == (f"Nothing canceled: `{running}` is processing now, and "
                             "MetaStudio cancels only waiting jobs.")
    assert [r.path.rsplit("/", 2)[-2] for r in simulator.requests
            if r.method == "POST"] == [job]


def test_waiting_for_a_job_that_has_ended_completes_at_once(slack: SlackSender, simulator):
    job = simulator.add_job(state="SUCCEED")
    outputs = run(slack, WAIT_FOR_JOB, job_id=job).outputs or {}
    assert (outputs["outcome"], outputs["succeeded"], outputs["state"]) == (
        "succeeded", True, "SUCCEED")


@pytest.mark.parametrize("minutes", [0, 15, "soon", -1])
def test_a_wait_longer_than_slack_allows_is_refused(slack: SlackSender, minutes) -> None:
    done = run(slack, WAIT_FOR_JOB, job_id=UNKNOWN, max_wait_minutes=minutes)
    assert "is not a maximum wait: give a number of minutes, at most 14" in (done.error or "")


def test_a_wait_is_completed_by_tracking_when_the_job_ends(
        slack: SlackSender, simulator, services: Services) -> None:
    job = simulator.add_job(state="PROCESSING", asset_name="Launch teaser")
    body, execution = slack.fake.function_executed(WAIT_FOR_JOB, {"job_id": job})
    assert slack.event(body).status == 200
    assert slack.fake.wait_for(lambda f: services.tracking.poller.waits.ids(
        services.tracking.poller.clock()))
    services.tracking.run_once()
    assert slack.fake.completions_of(execution.id) == []  # still processing

    simulator.set_state(job, "FAILED")
    services.tracking.run_once()

    [done] = slack.fake.completions_of(execution.id)
    assert (done.outputs or {})["outcome"] == "failed"
    assert (done.outputs or {})["asset_name"] == "Launch teaser"
    services.tracking.run_once()
    assert len(slack.fake.completions_of(execution.id)) == 1


def test_slack_delivering_a_step_again_runs_it_once(slack: SlackSender, simulator) -> None:
    job = simulator.add_job(state="WAITING")
    body, execution = slack.fake.function_executed(
        CANCEL_JOB, {"job_id": job, "user": {"id": "U1", "secret": "s"}})
    assert slack.event(body).status == 200
    assert slack.event(body, retry=1).status == 200  # Slack's retry of the same event

    assert slack.fake.wait_for_completion(execution.id) is not None
    assert not slack.fake.wait_for(lambda f: len(f.completions_of(execution.id)) > 1, 0.5)
    assert len([r for r in simulator.requests if r.method == "POST"]) == 1


def test_a_step_without_what_it_needs_fails_with_a_line(slack: SlackSender) -> None:
    assert run(slack, CANCEL_JOB, job_id=UNKNOWN).error == (
        "This step cancels for the person who runs the workflow: set its Person input to "
        "“Person who used this workflow”.")
    assert run(slack, GET_JOB).error == (
        "The step needs a job id, e.g. `26f06524-4f75-4b3a-a853-b649a21aaf66`.")


def test_the_fake_holds_outputs_to_the_manifest(fake_slack: FakeSlack) -> None:
    from tests.fakes.slack import manifest_functions

    assert fake_slack is not None
    declared = manifest_functions()[GET_JOB]["output_parameters"]
    assert {"job_id", "state", "ended"} <= {n for n, p in declared.items()
                                            if p.get("is_required")}


def test_retry_creates_once_and_hands_the_new_job_to_the_next_step(
        slack: SlackSender, simulator, services: Services) -> None:
    job = add_failed_2d(simulator)

    first = run(slack, RETRY_JOB, job_id=job, user={"id": "U1", "secret": "s"})
    again = run(slack, RETRY_JOB, job_id=job, user={"id": "U1", "secret": "s"})

    [new_id] = simulator.created
    assert first.outputs == {"job_id": job, "new_job_id": new_id, "created": True}
    assert again.outputs == {"job_id": job, "new_job_id": new_id, "created": False}
    assert simulator.create_calls == 1
    # A workflow waits for the new job itself: no channel tracks it.
    assert services.tracking.store.tracked_pairs([new_id]) == set()


def test_retry_by_someone_not_allowed_makes_no_create(slack: SlackSender, simulator) -> None:
    job = add_failed_2d(simulator)

    done = run(slack, RETRY_JOB, job_id=job, user={"id": "U6", "secret": "s"})

    assert done.error == ("Only @U1, @S0ONCALL may retry jobs from Slack: a retry spends "
                          "video minutes.")
    assert simulator.create_calls == 0 and simulator.requests == []


def test_retry_of_a_job_that_did_not_fail_says_so(slack: SlackSender, simulator) -> None:
    job = simulator.add_job(state="SUCCEED")

    done = run(slack, RETRY_JOB, job_id=job, user={"id": "U1", "secret": "s"})

    assert done.error == (f"Nothing retried: `{job}` is succeeded; only a failed job is "
                          "retried.")
    assert simulator.create_calls == 0
