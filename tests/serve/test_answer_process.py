"""The answering process (bot/serve/answer_process.py): a real child process answering at the
fake Slack's response_urls from the real simulator, its capacity, a child killed
mid-answer, a clean stop, and (under ``videojobs-bot http``) a killed web worker."""

from __future__ import annotations

import json
import multiprocessing.resource_tracker
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.serve.answer_process import RETRY_TEXT, AnswerProcess
from bot.settings import Settings
from bot.slack.listeners.answer import Work
from tests.fakes.slack import FakeSlack
from tests.fixtures.app import SIGNING_SECRET, SlackSender, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.fixtures.processes import wait_until_up
from tests.tracking.processes import free_port, wait

#: A new child imports the bot and opens its database before it answers.
START_SECONDS = 30.0


def work(fake: FakeSlack, name: str, text: str = "help", user: str = "U1") -> Work:
    return Work(response_url=fake.response_url(name), user_id=user, channel_id="C1",
                team_id="T1", channel_name="general", text=text)


def answers(fake: FakeSlack, name: str) -> list[dict]:
    with fake._lock:
        return list(fake.responses.get(name, []))


@pytest.fixture
def process(bot_settings: Settings) -> Iterator[AnswerProcess]:
    answering = AnswerProcess(bot_settings, threads=1)
    yield answering
    answering.close(timeout=10)


def test_the_child_answers_at_the_response_url(process: AnswerProcess, fake_slack) -> None:
    assert process.submit(work(fake_slack, "a1", "failed today"))

    assert fake_slack.wait_for(lambda f: answers(f, "a1"), timeout=START_SECONDS)
    [answer] = answers(fake_slack, "a1")
    assert answer["response_type"] == "ephemeral"
    assert "failed" in answer["text"].lower()
    assert process.pid != os.getpid()


def test_starting_the_child_starts_no_resource_tracker(bot_settings: Settings) -> None:
    # multiprocessing's spawn started one (7 MiB PSS of a deployment, guarding nothing).
    tracker = multiprocessing.resource_tracker._resource_tracker
    if tracker._pid is not None:
        pytest.skip("another test in this process started the resource tracker")
    answering = AnswerProcess(bot_settings, threads=1)
    try:
        assert tracker._pid is None
    finally:
        answering.close(timeout=10)


def test_past_its_places_submit_refuses_at_once_and_places_come_back(
        process: AnswerProcess, fake_slack, simulator) -> None:
    simulator.faults.latency = 1.0
    assert process.capacity == 2  # one thread answering, one waiting
    assert process.submit(work(fake_slack, "b1", "failed today"))
    assert process.submit(work(fake_slack, "b2", "failed yesterday"))

    started = time.monotonic()
    assert not process.submit(work(fake_slack, "b3", "failed 24h"))
    assert time.monotonic() - started < 0.1

    assert fake_slack.wait_for(lambda f: answers(f, "b1") and answers(f, "b2"),
                               timeout=START_SECONDS)
    assert wait(lambda: process.submit(work(fake_slack, "b4")), timeout=5)
    assert fake_slack.wait_for(lambda f: answers(f, "b4"), timeout=10)
    assert not answers(fake_slack, "b3")


def test_a_killed_child_is_replaced_and_its_users_are_asked_to_retry(
        process: AnswerProcess, fake_slack, simulator) -> None:
    assert process.submit(work(fake_slack, "warm"))  # the child is up
    assert fake_slack.wait_for(lambda f: answers(f, "warm"), timeout=START_SECONDS)
    first = process.pid
    simulator.faults.latency = 2.0
    assert process.submit(work(fake_slack, "k1", "failed today", user="U9"))
    # The child holds it once it asks Slack for the user's timezone.
    assert fake_slack.wait_for(
        lambda f: any(c.method == "users.info" and c.args.get("user") == "U9" for c in f.calls),
        timeout=10)

    os.kill(first, signal.SIGKILL)

    assert fake_slack.wait_for(lambda f: answers(f, "k1"), timeout=10)
    assert [a["text"] for a in answers(fake_slack, "k1")] == [RETRY_TEXT]
    simulator.faults.latency = 0.0
    assert process.submit(work(fake_slack, "k2"))  # its place came back
    assert fake_slack.wait_for(lambda f: answers(f, "k2"), timeout=START_SECONDS)
    assert process.pid not in (None, first)
    assert [a["text"] for a in answers(fake_slack, "k1")] == [RETRY_TEXT]  # never twice


def test_close_lets_the_child_give_what_it_holds(bot_settings: Settings, fake_slack,
                                                 simulator) -> None:
    process = AnswerProcess(bot_settings, threads=2)
    simulator.faults.latency = 1.0
    assert process.submit(work(fake_slack, "c1", "failed today"))
    assert process.submit(work(fake_slack, "c2", "summary today"))

    process.close(timeout=START_SECONDS)

    assert process._child.process.returncode == 0  # it stopped by itself, not terminated
    assert len(answers(fake_slack, "c1")) == 1 and len(answers(fake_slack, "c2")) == 1
    assert "failed" in answers(fake_slack, "c1")[0]["text"].lower()
    assert not process.submit(work(fake_slack, "c3"))  # closed: refused, never raises


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")
def test_under_gunicorn_a_killed_worker_leaves_no_answering_child_behind(
        simulator, fake_slack, tmp_path) -> None:
    port = free_port()
    env = bot_env(
        PORT=str(port), WEB_THREADS="2", SLACK_BOT_TOKEN=fake_slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url,
        METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
        METASTUDIO_AK=AK, METASTUDIO_SK=SK, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("videojobs-bot")), "http", "--no-worker"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    started: list[int] = []
    try:
        wait_until_up(f"{url}/healthz", server)
        slack = SlackSender(url, fake_slack)
        assert slack.command("help").status == 200
        slack.answers()  # answered by the child
        [worker] = _children(server.pid)
        children = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _children(worker)}
        started += children
        # The worker's one child is the answering child: no multiprocessing resource
        # tracker beside it (spawn started one; docs/operations.md, "Memory").
        assert not [c for c in children.values() if b"resource_tracker" in c], children
        assert len(children) == 1 and b"child_main" in children[started[0]], children

        os.kill(worker, signal.SIGKILL)

        assert wait(lambda: not _alive(started[0]), timeout=15), "the child outlived its worker"
        # gunicorn starts another worker, with a child of its own, that answers.
        wait_until_up(f"{url}/healthz", server)
        assert wait(lambda: slack.command("help", response="again").status == 200, timeout=20)
        assert fake_slack.wait_for(lambda f: answers(f, "again"), timeout=START_SECONDS)
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=60)
        for pid in started:  # a failed run leaves no process behind
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_ready_only_once_the_child_answers_and_again_after_a_restart(
        process: AnswerProcess) -> None:
    # Just started: the child's interpreter is still importing the bot.
    assert not process.ready()
    assert wait(process.ready, timeout=START_SECONDS)
    first = process.pid
    assert first is not None

    os.kill(first, signal.SIGKILL)

    assert wait(lambda: process.pid != first, timeout=15)
    assert not process.ready()  # the new child has not answered its ping yet
    assert wait(process.ready, timeout=START_SECONDS)


def test_healthz_is_503_until_the_answering_child_answers(services, bot_settings) -> None:
    from bot.serve.web import make_wsgi_app

    answering = AnswerProcess(bot_settings, threads=1)
    app = make_wsgi_app(services, bot_settings, answers=answering)

    def healthz() -> tuple[str, dict]:
        said: list[str] = []
        body = b"".join(app({"PATH_INFO": "/healthz", "REQUEST_METHOD": "GET"},
                            lambda status, headers: said.append(status)))
        return said[0], json.loads(body)

    try:
        status, report = healthz()
        assert status.startswith("503") and report["answers"] == "starting"
        assert wait(lambda: healthz()[0].startswith("200"), timeout=START_SECONDS)
        assert "answers" not in healthz()[1]
    finally:
        answering.close(timeout=10)
