"""Retry on the real processes (issue #24): ``videojobs-bot http`` (gunicorn, its
answering child and its supervised tracking process) with ``RETRY_ALLOWED`` from the
environment, pressed as Slack sends a block action, against the simulator's create and
asset library. A retry spends video minutes, so each test counts the creates."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from bot.commands.retrying import confirm_value
from bot.simulator.configs import FROZEN_MODEL
from bot.views import actions
from tests.fixtures.app import SlackSender
from tests.fixtures.simulator import add_failed_2d
from tests.tracking.processes import Deployment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


failed_2d = add_failed_2d


def test_two_allowed_people_pressing_at_once_create_one_job(deploy: Deployment) -> None:
    bot = deploy.http(RETRY_ALLOWED="U1,U2")
    job_id = failed_2d(deploy.sim)
    pressers = {user: replace(SlackSender(bot.url, deploy.slack), user_id=user)
                for user in ("U1", "U2")}
    together = threading.Barrier(2, timeout=10)

    def press(user: str) -> None:
        together.wait()
        sent = pressers[user].click(actions.RETRY_CONFIRM, confirm_value(job_id, None),
                                    response=user)
        assert sent.status == 200, sent

    threads = [threading.Thread(target=press, args=(user,)) for user in pressers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # Answered after the ack, by the answering child: waited for here.
    texts = [pressers[u].answers(u)[0]["text"] for u in pressers]
    assert deploy.sim.create_calls == 1, texts
    [new_id] = deploy.sim.created
    assert sum(f"created `{new_id}`" in text for text in texts) == 1, texts


def test_a_create_answered_after_the_timeout_is_found_not_sent_again(
        deploy: Deployment) -> None:
    bot = deploy.http(RETRY_ALLOWED="U1", METASTUDIO_READ_TIMEOUT="0.5")
    job_id = failed_2d(deploy.sim)
    deploy.sim.faults.time_out_creates(after=1.5)
    slack = SlackSender(bot.url, deploy.slack)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="one")
    first = slack.answers("one")[0]["text"]
    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None), response="two")
    second = slack.answers("two")[0]["text"]

    [new_id] = deploy.sim.created
    assert first == f"🔁 <@U1> retried `{job_id}`: created `{new_id}`."
    assert f"as `{new_id}`" in second
    assert deploy.sim.create_calls == 1


def test_someone_not_in_retry_allowed_is_refused_without_a_create(deploy: Deployment) -> None:
    bot = deploy.http(RETRY_ALLOWED="U1")
    job_id = failed_2d(deploy.sim)
    other = replace(SlackSender(bot.url, deploy.slack), user_id="U9")

    other.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    assert other.answers("click")[0]["text"].startswith("🔒 Only <@U1> may retry")
    assert deploy.sim.create_calls == 0


def test_a_blocked_model_refuses_the_retry_with_its_reason(deploy: Deployment) -> None:
    bot = deploy.http(RETRY_ALLOWED="U1")
    job_id = failed_2d(deploy.sim, model_asset_id=FROZEN_MODEL)
    slack = SlackSender(bot.url, deploy.slack)

    slack.click(actions.RETRY_CONFIRM, confirm_value(job_id, None))

    answer = slack.answers("click")[0]["text"]
    assert answer.startswith("🛑 Not retried:") and "PORTRAIT_RIGHTS" in answer
    assert deploy.sim.create_calls == 0
