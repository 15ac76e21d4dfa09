"""``videojobs-bot socket``: a refused connection is one line, not a traceback; against a
local Socket Mode endpoint it acks and answers, and reconnects at once after a drop."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# -- the same checks as HTTP's front, in process -------------------------------------------

@pytest.fixture
def socket_app(socket_slack, bot_settings) -> Iterator[tuple[FakeSocketMode, Any]]:
    """The Bolt app of ``videojobs-bot socket``, connected to the fake endpoint; yields
    the endpoint and the services (to spy on)."""
    from bot.serve.socket_mode import socket_mode_handler
    from bot.slack.app import create_app
    from bot.slack.listeners.answer import AnswerHere
    from bot.wiring.services import build_services
    from bot.wiring.tracking import first_time_events

    endpoint, web = socket_slack
    settings = bot_settings.model_copy(update={"slack_api_url": web.url})
    services = build_services(settings)
    handler = socket_mode_handler(create_app(services, AnswerHere(services)), APP_TOKEN,
                                  first_time=first_time_events(services.tracking.store))
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        assert endpoint.wait_for_connections(1, timeout=10)
        yield endpoint, services
    finally:
        handler.close()  # type: ignore[no-untyped-call]
        services.tracking.store.close()


def _envelope(endpoint: FakeSocketMode, payload: Any, retry: int = 0) -> str:
    envelope_id = uuid.uuid4().hex
    endpoint.connections[-1].ws.send(json.dumps({
        "envelope_id": envelope_id, "type": "events_api", "accepts_response_payload": False,
        "retry_attempt": retry, "retry_reason": "timeout" if retry else "", "payload": payload}))
    return envelope_id


def _home_opened(event_id: str) -> dict[str, Any]:
    return {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
            "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home",
                      "event_ts": f"{time.time():.6f}"}}


def test_an_event_envelope_slack_retries_is_acked_and_handled_once(socket_app, mocker) -> None:
    endpoint, services = socket_app
    opened = mocker.spy(services.home, "opened")

    assert endpoint.wait_for_ack(_envelope(endpoint, _home_opened("Ev0SOCKET1")), timeout=5)
    deadline = time.monotonic() + 5
    while opened.call_count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    for retry in (1, 2, 3):
        envelope_id = _envelope(endpoint, _home_opened("Ev0SOCKET1"), retry)
        assert endpoint.wait_for_ack(envelope_id, timeout=5) is not None, f"retry {retry}"

    time.sleep(1.0)  # a second handling would have started by now
    assert opened.call_count == 1


@pytest.mark.parametrize("event", [None, "app_home_opened", [1], {"type": "app_home_opened",
                                                                    "user": 5}])
def test_an_envelope_of_the_wrong_shape_is_acked_and_dropped(socket_app, mocker, caplog,
                                                             event: Any) -> None:
    caplog.set_level(logging.INFO)
    endpoint, services = socket_app
    opened = mocker.spy(services.home, "opened")
    payload = {**_home_opened("Ev0SOCKET2"), "event": event, "token": "MARKER"}

    # Bolt failed on it (500) and never acked: Slack would send it again and again.
    assert endpoint.wait_for_ack(_envelope(endpoint, payload), timeout=5) is not None
    assert "wrong shape" in caplog.text and "MARKER" not in caplog.text
    assert opened.call_count == 0
