"""``videojobs-bot http`` starts while Slack is down: it serves, ``/healthz`` says Slack is
not verified yet (degraded, 200), and once Slack answers the token is verified and the
health check is plain ok again. A real gunicorn against the fake Slack's outage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.simulator import Simulator
from tests.fakes.slack import FakeSlack
from tests.tracking.processes import Deployment, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def deploy(simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'db.sqlite3'}",
                            tmp_path, slack_verify_seconds=0.2, slack_verify_max_seconds=0.5)
    yield deployment
    deployment.close()
    for bot in deployment.bots:
        print(f"----- {' '.join(bot.args)} -----\n{bot.output}")


@pytest.mark.parametrize("outage", [503, "reset"])
def test_http_starts_during_a_slack_outage_and_verifies_the_token_once_slack_answers(
    deploy: Deployment, outage: int | str
) -> None:
    deploy.slack.outage = outage

    bot = deploy.http()  # up, with its tracking process, Slack or not

    status, health = bot.health()
    assert status == 200 and health["status"] == "degraded", health
    assert health["slack"]["verified"] is False
    assert "SLACK_BOT_TOKEN is not verified yet" in health["slack"]["reason"]
    assert bot.logged("Slack did not answer auth.test", timeout=10)

    deploy.slack.outage = None

    assert wait(lambda: "slack" not in bot.health()[1], 15), bot.health()
    assert bot.health() == (200, {"status": "ok", "outbox_depth": 0,
                                  "tracking": bot.health()[1]["tracking"]})
    assert bot.logged("Slack accepts SLACK_BOT_TOKEN", timeout=5)
    assert "will be unused" not in bot.output  # Bolt's warning about our own client
    assert deploy.slack.token not in bot.output


def test_http_with_a_refused_token_serves_and_says_which_variable_to_fix(
    deploy: Deployment
) -> None:
    deploy.slack.token_error = "invalid_auth"

    bot = deploy.http()

    assert wait(lambda: bot.health()[1].get("slack", {}).get("fix") == "SLACK_BOT_TOKEN",
                10), bot.health()
    assert bot.health()[0] == 200
    assert bot.logged("Slack refuses SLACK_BOT_TOKEN (HTTP 200, invalid_auth)", timeout=5)
