"""``videojobs-bot socket``: a refused connection is one line, not a traceback; against a
local Socket Mode endpoint it acks and answers, and reconnects at once after a drop."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.socket_mode import FakeSocketMode, SocketModeSlack
from tests.fixtures.app import bot_env
from tests.fixtures.metastudio import AK, PROJECT_ID, SK


def test_a_refused_app_token_is_explained_in_one_line(fake_slack, simulator, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "socket"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env=bot_env(
            SLACK_BOT_TOKEN=fake_slack.token, SLACK_APP_TOKEN="xapp-1-revoked",
            SLACK_API_URL=fake_slack.url, METASTUDIO_ENDPOINT=simulator.url,
            METASTUDIO_PROJECT_ID=PROJECT_ID, METASTUDIO_AK=AK, METASTUDIO_SK=SK,
            DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", LOG_LEVEL="WARNING",
        ),
    )

    assert result.returncode == 1
    assert "SLACK_APP_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert "xapp-1-revoked" not in result.stderr
    # It asked Slack for a Socket Mode connection with the app token.
    [opened] = fake_slack.calls_to("apps.connections.open")
    assert opened.headers["Authorization"] == "Bearer xapp-1-revoked"


# -- against a local Socket Mode endpoint (tests/fakes/socket_mode.py) ---------------------

APP_TOKEN = "xapp-1-A1-test-token"


@pytest.fixture
def socket_slack() -> Iterator[tuple[FakeSocketMode, SocketModeSlack]]:
    endpoint = FakeSocketMode(APP_TOKEN).start()
    web = SocketModeSlack(endpoint).start()
    yield endpoint, web
    web.stop()
    endpoint.stop()


@pytest.fixture
def socket_bot(socket_slack, simulator, tmp_path: Path) -> Iterator[list[str]]:
    """``videojobs-bot socket`` running against the fakes; yields its output lines."""
    endpoint, web = socket_slack
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "socket"], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=bot_env(
            SLACK_BOT_TOKEN=web.token, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=web.url,
            METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
            METASTUDIO_AK=AK, METASTUDIO_SK=SK, LOG_LEVEL="DEBUG",
            DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        ),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(bot.stdout), daemon=True)
    reader.start()
    try:
        assert endpoint.wait_for_connections(1, timeout=30), "".join(lines)
        yield lines
    finally:
        bot.terminate()
        bot.wait(timeout=30)
        reader.join(timeout=5)


def _command(endpoint: FakeSocketMode, web: SocketModeSlack, text: str, name: str) -> None:
    envelope_id = endpoint.slash_command(text, response_url=web.response_url(name))
    assert endpoint.wait_for_ack(envelope_id) is not None, "not acknowledged"
    assert web.wait_for(lambda f: f.responses.get(name), timeout=15), "not answered"


def test_socket_mode_acks_by_envelope_id_and_answers(socket_slack, socket_bot) -> None:
    endpoint, web = socket_slack

    _command(endpoint, web, "help", "first")

    assert "videojobs commands" in web.responses["first"][0]["text"]


def test_socket_mode_reconnects_at_once_after_an_abrupt_close(socket_slack, socket_bot):
    endpoint, web = socket_slack
    _command(endpoint, web, "help", "before")

    dropped = time.monotonic()
    endpoint.drop()

    assert endpoint.wait_for_connections(2, timeout=10)
    assert endpoint.connections[1].opened - dropped < 3.0  # not the 10-20 s of a ping check
    _command(endpoint, web, "help", "after")


def test_socket_mode_reconnects_when_slack_says_disconnect(socket_slack, socket_bot) -> None:
    endpoint, web = socket_slack

    endpoint.disconnect()

    assert endpoint.wait_for_connections(2, timeout=10), "".join(socket_bot[-40:])
    _command(endpoint, web, "help", "after")


def test_the_socket_mode_ticket_never_reaches_the_log(socket_slack, socket_bot) -> None:
    endpoint, web = socket_slack
    _command(endpoint, web, "help", "r")  # DEBUG logging has run through a whole exchange

    output = "".join(socket_bot)
    assert "apps.connections.open" in output or "wss" in output or "ws://" in output
    assert endpoint.tickets and not any(t in output for t in endpoint.tickets)


def test_socket_mode_waits_out_a_slack_outage_at_start(socket_slack, simulator,
                                                       tmp_path: Path) -> None:
    endpoint, web = socket_slack
    web.outage = 503  # the Web API (auth.test, apps.connections.open) is down
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot", "socket"], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=bot_env(
            SLACK_BOT_TOKEN=web.token, SLACK_APP_TOKEN=APP_TOKEN, SLACK_API_URL=web.url,
            METASTUDIO_ENDPOINT=simulator.url, METASTUDIO_PROJECT_ID=PROJECT_ID,
            METASTUDIO_AK=AK, METASTUDIO_SK=SK, LOG_LEVEL="INFO",
            SLACK_VERIFY_SECONDS="0.2", SLACK_VERIFY_MAX_SECONDS="0.5",
            DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        ),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(bot.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(web.calls_to("apps.connections.open")) < 3 and time.monotonic() < deadline:
            assert bot.poll() is None, "".join(lines)
            time.sleep(0.1)
        assert len(web.calls_to("apps.connections.open")) >= 3, "".join(lines)
        assert bot.poll() is None  # still waiting, not given up

        web.outage = None

        assert endpoint.wait_for_connections(1, timeout=30), "".join(lines)
        _command(endpoint, web, "help", "after")
        deadline = time.monotonic() + 10  # the token check asks again on its own schedule
        while "Slack accepts SLACK_BOT_TOKEN" not in "".join(lines) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        bot.terminate()
        bot.wait(timeout=30)
        reader.join(timeout=5)
    output = "".join(lines)
    assert "Slack did not answer apps.connections.open (HTTP 503)" in output, output
    assert "Slack did not answer auth.test" in output, output
    assert "Slack accepts SLACK_BOT_TOKEN" in output, output
    assert "Traceback" not in output and "will be unused" not in output
