"""The fake Slack's workflow step executions behave like Slack's, seen through a real
``WebClient`` and the bot's completer (bot/slack/step_completer.py): one completion per
execution, the execution's token revoked when it completes and expired after its
lifetime, outputs held to the manifest, a 429 and a 5xx left to the sender's schedule."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.messaging import DeliveryError, RateLimited, TransientDeliveryError
from bot.domain.steps import CANCEL_JOB, GET_JOB, StepGone
from bot.slack.step_completer import SlackStepCompleter
from tests.fakes.slack import FakeSlack


def _client(fake: FakeSlack, token: str) -> WebClient:
    return WebClient(token=token, base_url=fake.url)


def test_an_execution_completes_once_and_its_token_dies_with_it(fake_slack: FakeSlack) -> None:
    body, execution = fake_slack.function_executed(GET_JOB, {"job_id": "j1"})
    assert body["event"]["bot_access_token"] == execution.token
    assert [p["name"] for p in body["event"]["function"]["input_parameters"]] == ["job_id"]
    client = _client(fake_slack, execution.token)

    client.functions_completeSuccess(function_execution_id=execution.id,
                                     outputs={"job_id": "j1", "state": "SUCCEED",
                                              "ended": True})

    with pytest.raises(SlackApiError) as again:
        client.functions_completeError(function_execution_id=execution.id, error="late")
    assert again.value.response["error"] == "token_revoked"
    [done] = fake_slack.completions_of(execution.id)
    assert done.outputs == {"job_id": "j1", "state": "SUCCEED", "ended": True}


def test_outputs_are_held_to_the_manifest(fake_slack: FakeSlack) -> None:
    _, execution = fake_slack.function_executed(CANCEL_JOB, {})
    client = _client(fake_slack, execution.token)
    for outputs in ({"job_id": "j1"}, {"job_id": "j1", "state": "X", "canceled_by": "nobody"},
                    {"job_id": "j1", "state": "X", "canceled_by": "U1", "extra": 1}):
        with pytest.raises(SlackApiError) as refused:
            client.functions_completeSuccess(function_execution_id=execution.id,
                                             outputs=outputs)
        assert refused.value.response["error"] == "parameter_validation_failed"
    assert fake_slack.completions == []


def test_the_completer_maps_slacks_answers(fake_slack: FakeSlack) -> None:
    completer = SlackStepCompleter(fake_slack.url)
    _, execution = fake_slack.function_executed(GET_JOB, {"job_id": "j1"})
    fake_slack.rate_limit("functions.completeError", retry_after=7)
    with pytest.raises(RateLimited) as limited:
        completer.fail(execution.id, execution.token, "no")
    assert limited.value.retry_after == 7
    fake_slack.fail("functions.completeError", "internal_error", status=500)
    with pytest.raises(TransientDeliveryError):
        completer.fail(execution.id, execution.token, "no")

    with pytest.raises(StepGone):  # Slack knows no such execution
        completer.fail("Fx0UNKNOWN", execution.token, "no")
    completer.fail(execution.id, execution.token, "no")
    with pytest.raises(DeliveryError) as revoked:  # completed: its token is revoked
        completer.fail(execution.id, execution.token, "no")
    assert revoked.value.error == "token_revoked"

    _, expired = fake_slack.function_executed(GET_JOB, {"job_id": "j2"})
    fake_slack.function_token_lifetime = 0.0
    with pytest.raises(DeliveryError) as refused:
        completer.fail(expired.id, expired.token, "no")
    assert refused.value.error == "token_expired"
    assert type(refused.value) is DeliveryError  # that completion's, not the workspace's
