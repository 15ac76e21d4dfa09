"""HTTP mode end to end: signed requests in over real HTTP, what Slack received out."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy.exc import OperationalError

from tests.fixtures.app import SIGNING_SECRET, SlackSender, bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.fixtures.processes import wait_until_up


def test_healthz(bot_url: str) -> None:
    answer = requests.get(f"{bot_url}/healthz", timeout=5)

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "outbox_depth": 0}


def test_healthz_is_503_when_the_database_does_not_answer(bot_url: str, services, monkeypatch):
    def unreachable() -> int:
        raise OperationalError("SELECT count(*)", {}, Exception("connection refused"))

    monkeypatch.setattr(services.tracking.outbox, "depth", unreachable)

    answer = requests.get(f"{bot_url}/healthz", timeout=5)

    assert answer.status_code == 503
    assert answer.json() == {"status": "error", "database": "unreachable"}


def test_metrics_count_commands(slack: SlackSender, bot_url: str) -> None:
    slack.command("help")
    slack.answers()

    answer = requests.get(f"{bot_url}/metrics", timeout=5)

    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert 'videojobs_commands_total{command="help",outcome="ok"}' in answer.text


def test_other_paths_are_404(bot_url: str) -> None:
    assert requests.get(f"{bot_url}/", timeout=5).status_code == 404
    assert requests.get(f"{bot_url}/slack/events", timeout=5).status_code == 404
    assert requests.post(f"{bot_url}/healthz", timeout=5).status_code == 404


def test_forged_signature_is_401_and_nothing_runs(slack: SlackSender, simulator) -> None:
    before = len(slack.fake.calls)

    sent = slack.command("failed today", signature="v0=" + "0" * 64)

    assert sent.status == 401
    assert not slack.fake.wait_for(lambda f: len(f.calls) > before, timeout=1)
    assert simulator.requests == []


def test_wrong_secret_is_401(slack: SlackSender) -> None:
    slack.secret = "not-the-signing-secret"

    assert slack.command("help").status == 401


def test_stale_timestamp_is_401_and_nothing_runs(slack: SlackSender, simulator) -> None:
    before = len(slack.fake.calls)

    sent = slack.command("failed today", age=6 * 60)

    assert sent.status == 401
    assert not slack.fake.wait_for(lambda f: len(f.calls) > before, timeout=1)
    assert simulator.requests == []


def test_gunicorn_serves_the_bot(simulator, fake_slack, tmp_path) -> None:
    """``videojobs-bot http`` as deployed: gunicorn's gthread workers on $PORT."""
    port = free_port()
    env = bot_env(
        PORT=str(port), WEB_THREADS="4", SLACK_BOT_TOKEN=fake_slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=fake_slack.url,
        METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
        METASTUDIO_AK=AK, METASTUDIO_SK=SK, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
    )
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("videojobs-bot")), "http"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(server.stdout), daemon=True)
    reader.start()
    try:
        wait_until_up(f"{url}/healthz", server)
        slack = SlackSender(url, fake_slack)

        sent = slack.command("failed today")

        assert sent.status == 200
        assert sent.seconds < 1.0
        assert slack.answers()[0]["response_type"] == "ephemeral"
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert 'videojobs_commands_total{command="failed",outcome="ok"} 1.0' in metrics
        assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
        # The tracking loop runs beside the web server by default...
        assert wait_for_line(lines, "tracking worker started", timeout=20)
    finally:
        server.terminate()
        server.wait(timeout=30)
        reader.join(timeout=5)
    output = "".join(lines)
    assert server.returncode == 0, output
    assert "gthread" in output
    # ...and stops with it, after finishing its cycle.
    assert "tracking worker stopped" in output
    assert fake_slack.token not in output and SIGNING_SECRET not in output


def wait_for_line(lines: list[str], text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in line for line in list(lines)):
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
