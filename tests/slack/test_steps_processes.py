"""Workflow steps on the real processes: ``videojobs-bot http`` (gunicorn and its
supervised tracking process) and ``videojobs-bot socket``, sent ``function_executed`` as
Slack sends it (a signed JSON event; a Socket Mode ``events_api`` envelope). Each step
completes once, with the outputs manifest.yaml declares (the fake Slack checks them);
a wait ends by poll, by MetaStudio's callback, after a restart, or with an error at its
maximum wait; 100 waits on 100 jobs cost each poll cycle one request."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.domain.steps import CANCEL_JOB, GET_JOB, LIST_FAILED, WAIT_FOR_JOB
from bot.simulator import Simulator
from bot.tracking.polling.callbacks import expected_secret
from tests.fakes.slack import Completion, FakeSlack, FunctionExecution
from tests.fakes.socket_mode import FakeSocketMode, SocketModeSlack
from tests.fixtures.app import SlackSender, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.tracking.processes import Deployment, HttpBot, wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KEY = "callback-key-0123456789"


def start(bot: HttpBot, fake: FakeSlack, callback_id: str, **inputs: Any) -> FunctionExecution:
    """The step starts in a workflow: Slack posts ``function_executed`` to the bot."""
    body, execution = fake.function_executed(callback_id, inputs)
    sent = SlackSender(bot.url, fake).event(body)
    assert (sent.status, sent.body) == (200, ""), sent
    return execution


def completed(fake: FakeSlack, execution: FunctionExecution, timeout: float,
              bot: Any = None) -> Completion:
    done = fake.wait_for_completion(execution.id, timeout)
    assert done is not None, bot.output if bot is not None else execution
    return done


def test_each_step_completes_once_over_http(deploy: Deployment) -> None:
    sim, fake = deploy.sim, deploy.slack
    failed = sim.add_job(state="FAILED", asset_name="Launch teaser",
                         error_code="MSS.10001001", error_msg="Asset not found")
    waiting = sim.add_job(state="WAITING")
    running = sim.add_job(state="PROCESSING")
    bot = deploy.http(CANCEL_ALLOWED="U1")

    get = start(bot, fake, GET_JOB, job_id=failed)
    listed = start(bot, fake, LIST_FAILED, window="today")
    refused = start(bot, fake, CANCEL_JOB, job_id=waiting, user={"id": "U9", "secret": "s"})
    waited = start(bot, fake, WAIT_FOR_JOB, job_id=running)
    body, again = fake.function_executed(GET_JOB, {"job_id": failed})
    for retry in (0, 1):  # Slack's redelivery of the same event
        assert SlackSender(bot.url, fake).event(body, retry=retry).status == 200

    outputs = completed(fake, get, 20, bot).outputs or {}
    assert (outputs["state"], outputs["error_code"]) == ("FAILED", "MSS.10001001")
    assert (completed(fake, listed, 20, bot).outputs or {})["count"] == 1
    assert completed(fake, refused, 20, bot).error == "Only @U1 may cancel jobs from Slack."
    completed(fake, again, 20, bot)
    assert not [r for r in sim.requests if r.method == "POST"]  # the refusal asked nothing

    time.sleep(0.5)  # polls go by: the wait waits
    assert fake.completions_of(waited.id) == []
    sim.set_state(running, "SUCCEED")
    assert (completed(fake, waited, 20, bot).outputs or {})["outcome"] == "succeeded"

    time.sleep(0.5)  # nothing more comes
    assert sorted(c.execution_id for c in fake.completions) == sorted(
        e.id for e in (get, listed, refused, waited, again))


def _callback(bot: HttpBot, job: str) -> None:
    """MetaStudio's signed callback that ``job`` succeeded."""
    stamp = format(int(time.time()), "x")
    url = f"{bot.url}/metastudio/callback"
    answer = requests.post(
        f"{url}?time_stamp={stamp}&secret={expected_secret(KEY, url, stamp)}",
        json={"result": "SUCCEED", "asset_id": "a", "job_id": job}, timeout=10)
    assert answer.status_code == 200, answer.text


def test_waits_outlive_a_restart_and_end_by_poll_and_by_callback(
        simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> None:
    """Polls two minutes apart: the first, at start-up, finds what ended meanwhile; a
    callback ends the other wait within seconds."""
    deploy = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'v.sqlite3'}",
                        tmp_path, poll_interval_seconds=120, metastudio_callback_key=KEY)
    try:
        polled, called = (simulator.add_job(state="PROCESSING") for _ in range(2))
        bot = deploy.http()
        by_poll = start(bot, fake_slack, WAIT_FOR_JOB, job_id=polled, max_wait_minutes=5)
        by_callback = start(bot, fake_slack, WAIT_FOR_JOB, job_id=called)
        assert wait(lambda: len(deploy.tracking.poller.waits.ids(deploy.clock())) == 2,
                    20), bot.output
        assert bot.stop() == 0

        simulator.set_state(polled, "FAILED")  # while nothing runs
        restarted = deploy.http()
        assert (completed(fake_slack, by_poll, 30, restarted).outputs or {})[
            "outcome"] == "failed"

        simulator.set_state(called, "SUCCEED")
        called_at = time.monotonic()
        _callback(restarted, called)
        done = completed(fake_slack, by_callback, 20, restarted)
        assert time.monotonic() - called_at < 5.0  # the next poll is two minutes away
        assert (done.outputs or {})["succeeded"] is True
        time.sleep(0.5)
        assert [len(fake_slack.completions_of(e.id)) for e in (by_poll, by_callback)] == [1, 1]
    finally:
        deploy.close()


def test_a_wait_ends_with_an_error_at_its_maximum_wait(deploy: Deployment) -> None:
    job = deploy.sim.add_job(state="PROCESSING")
    bot = deploy.http()
    started = time.monotonic()
    execution = start(bot, deploy.slack, WAIT_FOR_JOB, job_id=job, max_wait_minutes=0.05)

    done = completed(deploy.slack, execution, 20, bot)

    assert time.monotonic() - started >= 3.0
    assert done.error is not None and done.error.startswith(
        f"Job `{job}` had not ended 3 s after the step started")
    deploy.sim.set_state(job, "SUCCEED")
    time.sleep(1.0)
    assert len(deploy.slack.completions_of(execution.id)) == 1


def _histogram(metrics: str, name: str) -> dict[str, float]:
    return {le: float(v) for le, v in re.findall(
        rf'{name}_bucket{{le="([^"]+)"}} ([0-9.e+]+)', metrics)}


def test_100_waits_on_100_jobs_cost_a_poll_cycle_one_request(
        simulator: Simulator, fake_slack: FakeSlack, tmp_path: Path) -> None:
    deploy = Deployment(simulator, fake_slack, f"sqlite:///{tmp_path / 'v.sqlite3'}",
                        tmp_path, delivery_channel_rate=100)
    try:
        jobs = [simulator.add_job(state="PROCESSING") for _ in range(100)]
        bot = deploy.http()
        executions = [start(bot, fake_slack, WAIT_FOR_JOB, job_id=job) for job in jobs]
        assert wait(lambda: len(deploy.tracking.poller.waits.ids(deploy.clock())) == 100,
                    30), bot.output
        time.sleep(2.0)  # cycles of 0.1 s with every wait in place

        metrics = requests.get(f"{bot.url}/metrics", timeout=10).text
        calls = _histogram(metrics, "videojobs_poll_upstream_calls")
        assert calls["+Inf"] > 10  # many cycles...
        assert calls["1.0"] == calls["+Inf"]  # ...none of them more than one request

        for job in jobs:
            simulator.set_state(job, "SUCCEED")
        assert wait(lambda: len(fake_slack.completions) == 100, 60), bot.output
        assert sorted(c.execution_id for c in fake_slack.completions) == sorted(
            e.id for e in executions)
    finally:
        deploy.close()


# -- Socket Mode -------------------------------------------------------------------------

APP_TOKEN = "xapp-1-A1-test-token"


@pytest.fixture
def socket_bot(simulator: Simulator, tmp_path: Path) -> Iterator[tuple[FakeSocketMode,
                                                                       SocketModeSlack]]:
    """``videojobs-bot socket`` (its tracking loop polling every 0.2 s) on the fakes,
    logging at DEBUG: no execution's token may show in its output."""
    endpoint = FakeSocketMode(APP_TOKEN).start()
    web = SocketModeSlack(endpoint).start()
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "socket"], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=bot_env(
            SLACK_BOT_TOKEN=web.token, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=web.url,
            METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
            METASTUDIO_AK=AK, METASTUDIO_SK=SK, POLL_INTERVAL_SECONDS="0.2",
            DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", LOG_LEVEL="DEBUG"),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(bot.stdout or []), daemon=True)
    reader.start()
    try:
        assert endpoint.wait_for_connections(1, timeout=30), "".join(lines)
        yield endpoint, web
    finally:
        bot.terminate()
        bot.wait(timeout=30)
        reader.join(timeout=5)
        web.stop()
        endpoint.stop()
    output = "".join(lines)
    assert "functions.completeSuccess" in output  # it did log its calls, verbosely
    leaked = [e.id for e in web.executions.values() if e.token in output]
    assert leaked == [], "an execution's token reached the log"


def test_steps_over_socket_mode(socket_bot, simulator: Simulator) -> None:
    endpoint, web = socket_bot
    done_job = simulator.add_job(state="SUCCEED", asset_name="Intro")
    running = simulator.add_job(state="PROCESSING")

    body, get = web.function_executed(GET_JOB, {"job_id": done_job})
    envelope = endpoint.events_api(body)
    assert endpoint.wait_for_ack(envelope) is not None
    assert (endpoint.ack_seconds(envelope) or 0) < 1.0
    assert (completed(web, get, 20).outputs or {})["asset_name"] == "Intro"

    body, waited = web.function_executed(WAIT_FOR_JOB, {"job_id": running})
    endpoint.events_api(body)
    time.sleep(1.0)
    assert web.completions_of(waited.id) == []
    simulator.set_state(running, "BLOCK")
    assert (completed(web, waited, 20).outputs or {})["outcome"] == "blocked"
