"""The Bolt app is built without asking Slack anything, and :class:`TokenCheck` verifies
``SLACK_BOT_TOKEN`` in the background: a Slack outage at start-up is waited out, a
refused token is said plainly, and neither stops the bot (against the fake Slack)."""

from __future__ import annotations

import logging

import pytest
from slack_sdk import WebClient

from bot.slack.app import TokenCheck, create_app
from bot.slack.listeners.answer import AnswerHere
from bot.slack.services import Services
from tests.fakes.slack import FakeSlack
from tests.tracking.processes import wait


def test_building_the_app_asks_slack_nothing_and_warns_of_nothing(
    services: Services, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in production: the token is in the environment, and Slack is down.
    monkeypatch.setenv("SLACK_BOT_TOKEN", fake_slack.token)
    fake_slack.outage = 503

    with caplog.at_level(logging.DEBUG, "slack_bolt"):
        create_app(services, AnswerHere(services), verified_in_front=True)

    assert not fake_slack.calls_to("auth.test")
    assert "will be unused" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_bolts_warning_stays_when_the_environment_holds_another_token(
    services: Services, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-another-token")

    with caplog.at_level(logging.WARNING, "slack_bolt"):
        create_app(services, AnswerHere(services))

    assert "will be unused" in caplog.text


@pytest.mark.parametrize("outage", [503, "html", "reset"])
def test_a_slack_outage_is_waited_out_and_the_token_verified_once_slack_answers(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, outage: int | str
) -> None:
    fake_slack.outage = outage
    check = TokenCheck(WebClient(token=fake_slack.token, base_url=fake_slack.url),
                       first_wait=0.05, max_wait=0.2)
    with caplog.at_level(logging.INFO, "bot.slack.app"):
        check.start()
        assert wait(lambda: check.attempts >= 3, 10)
        report = check.report()
        assert report is not None and not report["verified"] and "fix" not in report
        assert "Slack did not answer auth.test" in report["reason"]
        assert not check.verified

        fake_slack.outage = None

        assert check.wait(10)
    assert check.report() is None
    assert check.identity is not None and check.identity["team_id"] == fake_slack.team_id
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("SLACK_BOT_TOKEN is not verified yet" in w for w in warnings)
    assert "Slack accepts SLACK_BOT_TOKEN" in caplog.text
    assert fake_slack.token not in caplog.text
    calls = len(fake_slack.calls_to("auth.test"))
    fake_slack.wait_for(lambda f: False, timeout=0.5)
    assert len(fake_slack.calls_to("auth.test")) == calls  # verified: asked no more


def test_a_refused_token_is_an_error_naming_the_variable_and_is_asked_again(
    fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.token_error = "invalid_auth"
    check = TokenCheck(WebClient(token=fake_slack.token, base_url=fake_slack.url),
                       first_wait=0.05, max_wait=0.1)
    with caplog.at_level(logging.INFO, "bot.slack.app"):
        check.start()
        assert wait(lambda: check.attempts >= 2, 10)
        assert check.report() == {
            "verified": False, "fix": "SLACK_BOT_TOKEN",
            "reason": "Slack refuses SLACK_BOT_TOKEN (HTTP 200, invalid_auth)"}
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and "fix SLACK_BOT_TOKEN" in errors[0]

        fake_slack.token_error = None  # the app was reinstalled, say

        assert check.wait(10)
    assert check.report() is None
