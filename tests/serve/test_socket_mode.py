"""``videojobs-bot socket``: a refused connection is one line, not a traceback; against a
local Socket Mode endpoint it acks and answers, reconnects at once after a drop, and lives
through Slack's refreshes: one ``apps.connections.open`` per connection, the old connection
handled until it closes, an envelope handled once, nothing leaked (the soak)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from slack_bolt import App

from bot.serve.socket_mode import socket_mode_client
from bot.settings import Settings
from bot.slack.app import create_app
from bot.slack.listeners.answer import AnswerHere
from bot.slack.socket_client import SocketModeClient
from bot.wiring.services import build_services
from tests.fakes.blackhole import BlackholeProxy
from tests.fakes.socket_mode import Connection, FakeSocketMode, SocketModeSlack
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


def test_socket_mode_reconnects_after_every_refresh_slack_asks_for(socket_slack, socket_bot):
    endpoint, web = socket_slack

    for n in range(2, 5):  # the second refresh is the one that used to go unanswered
        endpoint.disconnect("refresh_requested")
        assert endpoint.wait_for_connections(n, timeout=10), "".join(socket_bot[-40:])
        _command(endpoint, web, "help", f"after-{n - 1}")

    assert len(web.calls_to("apps.connections.open")) == len(endpoint.connections) == 4


def test_the_socket_mode_ticket_never_reaches_the_log(socket_slack, socket_bot) -> None:
    endpoint, web = socket_slack
    _command(endpoint, web, "help", "r")  # DEBUG logging has run through a whole exchange

    output = "".join(socket_bot)
    assert "apps.connections.open" in output or "wss" in output or "ws://" in output
    assert endpoint.tickets and not any(t in output for t in endpoint.tickets)


# -- in this process: the client serve() runs, with short timings ---------------------------

#: A connection Slack asked to replace but never closed is closed this long after its
#: successor opened (serve() keeps the client's 30 s).
RETIRE_AFTER = 2.0


@pytest.fixture
def socket_app(socket_slack, bot_settings: Settings) -> App:
    """The bot's Bolt app against the fake Web API, answering on one thread (in order)."""
    _, web = socket_slack
    services = build_services(bot_settings.model_copy(update={
        "slack_api_url": web.url, "slack_bot_token": SecretStr(web.token)}))
    return create_app(services, AnswerHere(services, threads=1))


@pytest.fixture
def socket_client(socket_slack, socket_app: App) -> Iterator[SocketModeClient]:
    endpoint, _ = socket_slack
    client = socket_mode_client(socket_app, APP_TOKEN, retire_after=RETIRE_AFTER)
    client.connect()
    assert endpoint.wait_for_connections(1, timeout=10)
    yield client
    client.close()


def _answered(endpoint: FakeSocketMode, web: SocketModeSlack, name: str,
              on: Connection | None = None) -> str:
    """``/videojobs help`` pushed (on ``on``, or the newest connection) is acked within
    a second and answered at its response_url; its envelope id."""
    envelope_id = endpoint.slash_command("help", response_url=web.response_url(name), on=on)
    assert endpoint.wait_for_ack(envelope_id, timeout=5) is not None, f"{name}: not acked"
    assert (endpoint.ack_seconds(envelope_id) or 0) < 1.0, f"{name}: acked late"
    assert web.wait_for(lambda f: f.responses.get(name), timeout=10), f"{name}: not answered"
    return envelope_id


def _until(condition: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_one_apps_connections_open_per_connection(socket_slack, socket_client) -> None:
    endpoint, web = socket_slack

    old = endpoint.disconnect("warning")
    endpoint.disconnect("refresh_requested", on=old)  # the same connection: one new one
    assert endpoint.wait_for_connections(2)
    endpoint.drop()
    assert endpoint.wait_for_connections(3)
    _answered(endpoint, web, "after")

    assert len(web.calls_to("apps.connections.open")) == len(endpoint.connections) == 3
    assert endpoint.used_tickets == set(endpoint.tickets) and not endpoint.refused


def test_the_old_connection_is_handled_until_it_closes(socket_slack, socket_client) -> None:
    endpoint, web = socket_slack
    old = endpoint.disconnect("refresh_requested")
    assert endpoint.wait_for_connections(2)

    envelope_id = _answered(endpoint, web, "old-one", on=old)  # Slack may still use it
    _answered(endpoint, web, "new-one")
    assert envelope_id in old.acks, "acked on the connection the envelope came on"

    # Slack never closed it: the client does, RETIRE_AFTER later, and opens nothing more.
    assert old.closed.wait(RETIRE_AFTER + 5)
    assert endpoint.open_connections() == [endpoint.connections[1]]
    assert len(web.calls_to("apps.connections.open")) == 2


def test_an_envelope_slack_delivers_twice_is_acked_twice_and_handled_once(
    socket_slack, socket_client
) -> None:
    endpoint, web = socket_slack
    envelope_id = endpoint.slash_command("help", response_url=web.response_url("once"))
    assert endpoint.wait_for_ack(envelope_id)
    old = endpoint.disconnect("refresh_requested")
    assert endpoint.wait_for_connections(2)

    endpoint.redeliver(envelope_id)  # on the new connection, as after a lost ack
    new = endpoint.connections[1]
    assert _until(lambda: envelope_id in new.acks), "the redelivery was not acked"
    _answered(endpoint, web, "after")  # answers go in order (one thread): "once" is done

    assert envelope_id in old.acks
    assert len(web.responses["once"]) == 1


def test_a_connection_that_goes_silent_is_replaced(socket_slack, socket_app: App) -> None:
    endpoint, web = socket_slack
    proxy = BlackholeProxy(("127.0.0.1", endpoint.port))
    endpoint.via_port = proxy.port  # the first connection goes through a proxy...
    client = socket_mode_client(socket_app, APP_TOKEN, ping_interval=0.2)
    try:
        client.connect()
        assert endpoint.wait_for_connections(1)
        endpoint.via_port = None
        _answered(endpoint, web, "before")
        proxy.blackhole()  # ...that goes silent: no close, no reset, no pong

        assert endpoint.wait_for_connections(2, timeout=5), "the silent one was kept"
        _answered(endpoint, web, "after")
        assert len(web.calls_to("apps.connections.open")) == 2
    finally:
        client.close()
        proxy.close()


def test_a_message_that_is_not_an_envelope_is_ignored(socket_slack, socket_client) -> None:
    endpoint, web = socket_slack
    first = endpoint.connections[0]
    for junk in ("[]", "not json", '"text"'):
        first.ws.send(junk)

    envelope_id = _answered(endpoint, web, "still-reading")

    assert envelope_id in first.acks and len(endpoint.connections) == 1


#: The soak, one after another: 20 of Slack's disconnects (``refresh_requested``,
#: ``warning``, and a ``warning`` then a ``refresh_requested`` on the same connection, in
#: turn), 4 abrupt drops, and 3 more behind a slow edge (handshakes answered after 1 s).
SOAK: list[str] = []
for _i in range(20):
    SOAK.append(("refresh_requested", "warning", "warning, refresh_requested")[_i % 3])
    if _i % 5 == 4:
        SOAK.append("drop")
    if _i % 7 == 3:
        SOAK.append("slow " + ("drop" if _i == 10 else "refresh_requested"))


def _threads() -> int:
    return len(threading.enumerate())


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_soak_refreshes_drops_and_a_slow_edge(socket_slack, socket_client) -> None:
    endpoint, web = socket_slack
    endpoint.close_after_disconnect = 0.5  # Slack closes a connection it asked to replace
    started = time.monotonic()
    _answered(endpoint, web, "warm-up")
    threads, fds = _threads(), _fds()

    for n, step in enumerate(SOAK, start=1):
        old = endpoint.connections[-1]
        endpoint.accept_delay = 1.0 if step.startswith("slow ") else 0.0
        kind = step.removeprefix("slow ")
        if kind == "drop":
            endpoint.drop()
        else:
            for reason in kind.split(", "):
                endpoint.disconnect(reason, on=old)
            _answered(endpoint, web, f"{n}-old", on=old)
        assert endpoint.wait_for_connections(n + 1, timeout=5), f"{n} {step}: no new connection"
        _answered(endpoint, web, f"{n}-new")
    endpoint.accept_delay = 0.0

    assert len(endpoint.connections) == 1 + len(SOAK)
    assert len(web.calls_to("apps.connections.open")) == len(endpoint.connections)
    assert endpoint.used_tickets == set(endpoint.tickets) and not endpoint.refused
    # Old connections close (Slack closes them), and with them their threads and sockets.
    assert endpoint.wait_for_open_connections(1, timeout=10)
    assert _until(lambda: _threads() <= threads + 2 and _fds() <= fds + 4), (
        f"threads {threads} -> {_threads()}, fds {fds} -> {_fds()}")
    print(f"\nsoak: {len(SOAK)} disruptions, {len(endpoint.connections)} connections, "
          f"{len(web.calls_to('apps.connections.open'))} opens, threads {threads} -> "
          f"{_threads()}, fds {fds} -> {_fds()}, {time.monotonic() - started:.1f} s")


# -- the same checks as HTTP's front, in process -------------------------------------------

@pytest.fixture
def screened_app(socket_slack, bot_settings) -> Iterator[tuple[FakeSocketMode, Any]]:
    """The Bolt app of ``videojobs-bot socket``, connected to the fake endpoint; yields
    the endpoint and the services (to spy on)."""
    from bot.slack.app import create_app
    from bot.slack.listeners.answer import AnswerHere
    from bot.wiring.services import build_services
    from bot.wiring.tracking import first_time_events

    endpoint, web = socket_slack
    settings = bot_settings.model_copy(update={"slack_api_url": web.url})
    services = build_services(settings)
    client = socket_mode_client(create_app(services, AnswerHere(services)), APP_TOKEN,
                                first_time=first_time_events(services.tracking.store))
    client.connect()
    try:
        assert endpoint.wait_for_connections(1, timeout=10)
        yield endpoint, services
    finally:
        client.close()
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


def test_an_event_envelope_slack_retries_is_acked_and_handled_once(screened_app, mocker) -> None:
    endpoint, services = screened_app
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
def test_an_envelope_of_the_wrong_shape_is_acked_and_dropped(screened_app, mocker, caplog,
                                                             event: Any) -> None:
    caplog.set_level(logging.INFO)
    endpoint, services = screened_app
    opened = mocker.spy(services.home, "opened")
    payload = {**_home_opened("Ev0SOCKET2"), "event": event, "token": "MARKER"}

    # Bolt failed on it (500) and never acked: Slack would send it again and again.
    assert endpoint.wait_for_ack(_envelope(endpoint, payload), timeout=5) is not None
    assert "wrong shape" in caplog.text and "MARKER" not in caplog.text
    assert opened.call_count == 0


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
    assert "Socket Mode: could not connect (SlackApiError" in output, output
    assert "Slack did not answer auth.test" in output, output
    assert "Slack accepts SLACK_BOT_TOKEN" in output, output
    assert "Traceback" not in output and "will be unused" not in output
