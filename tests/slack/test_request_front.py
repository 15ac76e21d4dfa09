"""The front of ``/slack/events`` (bot/slack/request_front.py) against the real WSGI app:
signed requests in over HTTP, what ran and what was logged out."""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import make_server

import pytest
import requests

from bot.serve.web import make_wsgi_app
from bot.settings import Settings
from bot.slack.listeners.answer import AnswerHere
from bot.slack.request_front import SlackRequestGate
from bot.slack.services import Services
from tests.fixtures.app import SIGNING_SECRET, _QuietHandler, _ThreadingWSGIServer


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a loopback server; its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer,
                         handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def signature(key: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature (by hand: slack_sdk refuses an empty key)."""
    return "v0=" + hmac.new(key.encode(), b"v0:" + timestamp.encode() + b":" + body,
                            hashlib.sha256).hexdigest()


def post(url: str, body: bytes, *, key: str = SIGNING_SECRET,
         content_type: str = "application/x-www-form-urlencoded",
         **headers: str) -> requests.Response:
    """``body`` to ``/slack/events`` signed with ``key`` as Slack signs it, now."""
    timestamp = str(int(time.time()))
    return requests.post(f"{url}/slack/events", data=body, timeout=10, headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(key, timestamp, body), **headers})


# -- no signing secret: nothing gets in ------------------------------------------------

@pytest.mark.parametrize("signed_with", ["", SIGNING_SECRET])
def test_an_app_built_without_a_signing_secret_refuses_every_request(
    services: Services, bot_settings: Settings, fake_slack, simulator, caplog, signed_with: str,
) -> None:
    caplog.set_level(logging.INFO)
    unset = bot_settings.model_copy(update={"slack_signing_secret": None})
    command = urlencode({
        "command": "/videojobs", "text": "failed today", "user_id": "U1", "channel_id": "C1",
        "team_id": fake_slack.team_id, "response_url": fake_slack.response_url("r1")}).encode()
    with serving(make_wsgi_app(services, unset, answers=AnswerHere(services))) as url:
        answer = post(url, command, key=signed_with)

    assert answer.status_code == 401
    assert not fake_slack.wait_for(lambda f: f.responses.get("r1"), timeout=0.5)
    assert simulator.requests == []
    assert "SLACK_SIGNING_SECRET is not set" in caplog.text
    assert "no signing secret" in caplog.text


def test_a_gate_with_an_empty_secret_refuses_a_request_signed_with_it() -> None:
    body = b"command=%2Fvideojobs&text=help"
    timestamp = str(int(time.time()))
    environ = {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
               "HTTP_X_SLACK_SIGNATURE": signature("", timestamp, body),
               "CONTENT_TYPE": "application/x-www-form-urlencoded"}

    refusal = SlackRequestGate("").admit(environ)

    assert refusal is not None and refusal.status == "401 Unauthorized"
    assert SlackRequestGate(SIGNING_SECRET).admit(dict(environ)) is not None  # another key
