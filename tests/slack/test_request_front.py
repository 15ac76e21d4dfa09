"""The front of ``/slack/events`` (bot/slack/request_front.py) against the real WSGI app:
signed requests in over HTTP, what ran and what was logged out."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode
from wsgiref.simple_server import make_server

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.serve.web import make_wsgi_app
from bot.settings import Settings
from bot.slack.listeners.answer import AnswerHere
from bot.slack.request_front import SlackRequestGate
from bot.slack.services import Services
from tests.fixtures.app import SIGNING_SECRET, SlackSender, _QuietHandler, _ThreadingWSGIServer


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


# -- signed bodies of the wrong shape: 400, never 500, never logged -----------------------

def _bodies(slack_team: str, response_url: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Genuine bodies of each kind the bot handles, as Slack sends them (the docs'
    examples, trimmed): (how it is encoded, the body)."""
    authorizations = [{"enterprise_id": None, "team_id": slack_team, "user_id": "UBOT",
                       "is_bot": True, "is_enterprise_install": False}]
    return {
        "event": ("json", {
            "token": "MARKER", "team_id": slack_team, "api_app_id": "A1",
            "type": "event_callback", "event_id": "Ev0PV52K21", "event_time": 1700000000,
            "authorizations": authorizations, "is_ext_shared_channel": False,
            "event": {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home",
                      "event_ts": "1700000000.000100",
                      "view": {"id": "VU1", "type": "home", "blocks": [], "state": {"values": {}},
                               "hash": "1.2", "private_metadata": "", "callback_id": "",
                               "close": None, "previous_view_id": None}}}),
        "function": ("json", {
            "token": "MARKER", "team_id": slack_team, "api_app_id": "A1",
            "type": "event_callback", "event_id": "Ev0PV52K22", "event_time": 1700000000,
            "authorizations": authorizations,
            "event": {"type": "function_executed",
                      "function": {"id": "Fn1", "callback_id": "track_job", "title": "Track",
                                   "input_parameters": [], "date_created": 1694727597},
                      "inputs": {"job_id": "26f06524"}, "function_execution_id": "Fx1",
                      "workflow_execution_id": "Wx1", "event_ts": "1700000000.000100",
                      "bot_access_token": "xwfp-MARKER"}}),
        "challenge": ("json", {"token": "MARKER", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9C",
                               "type": "url_verification"}),
        "click": ("payload", {
            "type": "block_actions", "api_app_id": "A1", "token": "MARKER",
            "team": {"id": slack_team, "domain": "acme"}, "enterprise": None,
            "is_enterprise_install": False,
            "user": {"id": "U1", "username": "ana", "name": "ana", "team_id": slack_team},
            "channel": {"id": "C1", "name": "video-ops"},
            "container": {"type": "message", "channel_id": "C1", "is_ephemeral": True,
                          "message_ts": "1700000000.000001"},
            "message": {"type": "message", "ts": "1700000000.000001", "text": "x",
                        "bot_id": "B1", "team": slack_team, "blocks": []},
            "state": {"values": {}}, "response_url": response_url, "trigger_id": "1.2.3",
            "actions": [{"type": "button", "action_id": "videojobs_more", "block_id": "b1",
                         "value": "1", "action_ts": "1700000000.000100",
                         "text": {"type": "plain_text", "text": "More"}}]}),
        "home": ("payload", {
            "type": "block_actions", "api_app_id": "A1", "token": "MARKER",
            "team": {"id": slack_team}, "user": {"id": "U1"},
            "container": {"type": "view", "view_id": "VU1"}, "trigger_id": "1.2.3",
            "view": {"id": "VU1", "type": "home", "blocks": [], "hash": "1.2"},
            "actions": [{"type": "button", "action_id": "videojobs_home_refresh",
                         "block_id": "b1", "value": "x", "action_ts": "1700000000.000100"}]}),
        "shortcut": ("payload", {
            "type": "message_action", "token": "MARKER", "action_ts": "1700000000.000100",
            "team": {"id": slack_team, "domain": "acme"}, "user": {"id": "U1", "name": "ana"},
            "channel": {"id": "C1", "name": "video-ops"}, "is_enterprise_install": False,
            "enterprise": None, "callback_id": "track_jobs_in_message", "trigger_id": "1.2.3",
            "response_url": response_url, "message_ts": "1700000000.000001",
            "message": {"type": "message", "text": "no ids here", "user": "U2",
                        "ts": "1700000000.000001", "team": slack_team, "blocks": []}}),
        "view": ("payload", {
            "type": "view_submission", "team": {"id": slack_team, "domain": "acme"},
            "user": {"id": "U1", "name": "ana", "team_id": slack_team}, "api_app_id": "A1",
            "token": "MARKER", "trigger_id": "1.2.3", "is_enterprise_install": False,
            "enterprise": None, "response_urls": [],
            "view": {"id": "V1", "team_id": slack_team, "type": "modal", "blocks": [],
                     "private_metadata": "", "callback_id": "settings",
                     "state": {"values": {"b1": {"a1": {"type": "plain_text_input",
                                                        "value": "x"}}}},
                     "hash": "1.2", "root_view_id": "V1", "previous_view_id": None,
                     "app_installed_team_id": slack_team}}),
        "command": ("form", {
            "token": "MARKER", "team_id": slack_team, "team_domain": "acme", "channel_id": "C1",
            "channel_name": "video-ops", "user_id": "U1", "user_name": "ana",
            "command": "/videojobs", "text": "help", "api_app_id": "A1",
            "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": "1.2.3"}),
    }


def _encode(kind: str, body: dict[str, Any]) -> tuple[bytes, str]:
    if kind == "json":
        return json.dumps(body).encode(), "application/json"
    if kind == "payload":
        return urlencode({"payload": json.dumps(body)}).encode(), FORM
    return urlencode(body).encode(), FORM


FORM = "application/x-www-form-urlencoded"
MISSING = object()


def _changed(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``body`` with ``value`` at ``path`` (MISSING: the field taken out)."""
    copy = json.loads(json.dumps(body))
    *parents, last = path
    target = copy
    for key in parents:
        target = target[key]
    if value is MISSING:
        del target[last]
    else:
        target[last] = value
    return copy


#: (body, path, value): each a field Bolt or a listener reads, of the wrong type or missing.
WRONG_SHAPES: list[tuple[str, tuple[Any, ...], Any]] = [
    ("event", ("event",), None),
    ("event", ("event",), "app_home_opened"),
    ("event", ("event",), [{"type": "app_home_opened"}]),
    ("event", ("event",), 7),
    ("event", ("event", "type"), MISSING),
    ("event", ("event", "type"), ["app_home_opened"]),
    ("event", ("event", "user"), 4711),
    ("event", ("event", "user"), {"id": "U1"}),  # the Home listener reads an id
    ("event", ("event", "channel"), 1.5),
    ("event", ("event", "message"), "hi"),
    ("event", ("event", "view"), "home"),
    ("event", ("authorizations",), "T0TEST"),
    ("event", ("authorizations",), ["T0TEST"]),
    ("event", ("authorizations", 0), None),
    ("event", ("authorizations", 0, "team_id"), 12),
    ("event", ("team_id",), 12),
    ("event", ("team",), True),
    ("event", ("enterprise",), 3),
    ("event", ("user",), 5),
    ("event", ("channel",), False),
    ("event", ("is_ext_shared_channel",), "yes"),
    ("event", ("event_id",), MISSING),
    ("event", ("event_id",), 42),
    ("event", ("event_id",), "Ev 1; DROP"),
    ("event", ("response_urls",), None),
    ("event", ("view",), None),
    ("function", ("event", "function"), None),
    ("function", ("event", "function"), "track_job"),
    ("function", ("event", "function", "callback_id"), 1),
    ("function", ("event", "inputs"), "job_id"),
    ("function", ("event", "function_execution_id"), MISSING),
    ("function", ("event", "bot_access_token"), 7),
    ("challenge", ("challenge",), {"x": 1}),
    ("challenge", ("challenge",), MISSING),
    ("click", ("actions",), None),
    ("click", ("actions",), []),
    ("click", ("actions",), "videojobs_more"),
    ("click", ("actions", 0), 1),
    ("click", ("actions", 0, "action_id"), 5),
    ("click", ("actions", 0, "action_id"), MISSING),
    ("click", ("actions", 0, "value"), ["1"]),
    ("click", ("user",), "U1"),
    ("click", ("user",), {}),
    ("click", ("user", "id"), 1),
    ("click", ("channel",), "C1"),
    ("click", ("channel", "name"), 0),
    ("click", ("team",), 1.5),
    ("click", ("response_url",), None),
    ("click", ("response_url",), 0),
    ("click", ("response_url",), "javascript:alert(1)"),
    ("click", ("view",), "home"),
    ("click", ("message",), "x"),
    ("click", ("message", "user"), 5),
    ("click", ("container",), True),
    ("click", ("container",), "message"),
    ("click", ("message", "ts"), 5),
    ("click", ("message", "thread_ts"), []),
    ("click", ("response_urls",), [{"response_url": 5}]),
    ("click", ("function_data",), None),
    ("home", ("view",), None),
    ("home", ("view", "type"), 1),
    ("shortcut", ("callback_id",), 5),
    ("shortcut", ("message",), "26f06524-4f75-4a1b-9c7e-0123456789ab"),
    ("shortcut", ("message", "text"), 5),
    ("shortcut", ("message", "thread_ts"), 1.5),
    ("shortcut", ("channel",), ["C1"]),
    ("shortcut", ("response_url",), MISSING),
    ("view", ("view",), "modal"),
    ("view", ("view",), None),
    ("view", ("view",), []),
    ("view", ("view", "callback_id"), MISSING),
    ("view", ("view", "callback_id"), 5),
    ("view", ("view", "type"), MISSING),
    ("view", ("view", "state"), "x"),
    ("view", ("view", "state", "values"), {"b1": "x"}),
    ("view", ("response_urls",), "x"),
    ("view", ("response_urls",), [1]),
    ("view", ("response_urls",), [{"block_id": "b"}]),
    ("view", ("user",), None),
    ("command", ("user_id",), MISSING),
    ("command", ("channel_id",), MISSING),
    ("command", ("response_url",), MISSING),
    ("command", ("response_url",), "not a url"),
    ("command", ("event",), "x"),
    ("command", ("authorizations",), "x"),
    ("command", ("view",), "x"),
]


def _no_marker_logged(records: list[logging.LogRecord], marker: str) -> bool:
    for record in records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        if marker in text:
            return False
    return True


def _case(name: str, path: tuple[Any, ...], value: Any) -> str:
    return f"{name}.{'.'.join(map(str, path))}={'missing' if value is MISSING else value!r}"


def test_signed_bodies_of_the_wrong_shape_are_400_and_never_logged(
    bot_url: str, fake_slack, simulator, caplog,
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = _bodies(fake_slack.team_id, fake_slack.response_url("r1"))
    calls = len(fake_slack.calls)
    wrong = []
    for name, path, value in WRONG_SHAPES:
        caplog.clear()
        kind, body = bodies[name]
        raw, content_type = _encode(kind, _changed(body, path, value))

        answer = post(bot_url, raw, content_type=content_type)

        if answer.status_code != 400 or answer.headers.get("X-Slack-No-Retry") != "1":
            wrong.append(f"{_case(name, path, value)}: {answer.status_code}")
        elif not _no_marker_logged(caplog.records, "MARKER") or "wrong shape" not in caplog.text:
            wrong.append(f"{_case(name, path, value)}: logged {caplog.text!r}")
    assert wrong == []
    # Nothing ran: no listener, no answer, no look-up.
    assert not fake_slack.wait_for(lambda f: len(f.calls) > calls or f.responses, timeout=0.5)
    assert simulator.requests == []


@pytest.mark.parametrize("name", ["event", "function", "challenge", "click", "home", "shortcut",
                                  "view", "command"])
def test_genuine_bodies_of_every_kind_pass_the_front(bot_url: str, fake_slack, name: str) -> None:
    kind, body = _bodies(fake_slack.team_id, fake_slack.response_url("r1"))[name]
    raw, content_type = _encode(kind, body)

    answer = post(bot_url, raw, content_type=content_type)

    # 404: Bolt's answer for what no listener takes (the bot has no modal, no step yet).
    assert answer.status_code == (404 if name in ("function", "view") else 200), answer.text
    if name == "challenge":
        assert answer.json() == {"challenge": body["challenge"]}


# -- generated: every field read, every wrong JSON type ------------------------------------

#: (body, path, the JSON types the field may have): each field Bolt or a listener reads.
FIELDS: list[tuple[str, tuple[Any, ...], frozenset[str]]] = [
    (name, path, frozenset(types.split())) for name, path, types in [
        ("event", ("type",), "str null"),
        ("event", ("event",), "object"),
        ("event", ("event", "type"), "str"),
        ("event", ("event", "user"), "str"),
        ("event", ("event", "channel"), "str object null"),
        ("event", ("event", "tab"), "str null"),
        ("event", ("event", "thread_ts"), "str null"),
        ("event", ("event", "message"), "object null"),
        ("event", ("event", "view"), "object null"),
        ("event", ("event_id",), "str"),
        ("event", ("team_id",), "str null"),
        ("event", ("enterprise_id",), "str null"),
        ("event", ("authorizations",), "array null"),
        ("event", ("authorizations", 0), "object"),
        ("event", ("authorizations", 0, "team_id"), "str null"),
        ("event", ("authorizations", 0, "enterprise_id"), "str null"),
        ("event", ("authorizations", 0, "is_enterprise_install"), "bool str null"),
        ("event", ("is_ext_shared_channel",), "bool null"),
        ("function", ("event", "function"), "object"),
        ("function", ("event", "function", "callback_id"), "str"),
        ("function", ("event", "inputs"), "object"),
        ("function", ("event", "function_execution_id"), "str"),
        ("function", ("event", "bot_access_token"), "str null"),
        ("challenge", ("challenge",), "str"),
        ("click", ("actions",), "array"),
        ("click", ("actions", 0), "object"),
        ("click", ("actions", 0, "action_id"), "str"),
        ("click", ("actions", 0, "block_id"), "str null"),
        ("click", ("actions", 0, "value"), "str null"),
        ("click", ("user",), "object"),
        ("click", ("user", "id"), "str"),
        ("click", ("team",), "object null"),
        ("click", ("team", "id"), "str null"),
        ("click", ("enterprise",), "object null"),
        ("click", ("channel",), "object null"),
        ("click", ("channel", "id"), "str null"),
        ("click", ("channel", "name"), "str null"),
        ("click", ("message",), "object null"),
        ("click", ("response_url",), "str"),
        ("click", ("view",), "object"),
        ("home", ("view", "type"), "str null"),
        ("home", ("view", "id"), "str null"),
        ("shortcut", ("callback_id",), "str"),
        ("shortcut", ("message",), "object null"),
        ("shortcut", ("message", "text"), "str null"),
        ("shortcut", ("message", "ts"), "str null"),
        ("shortcut", ("channel",), "object null"),
        ("shortcut", ("response_url",), "str"),
        ("view", ("view",), "object"),
        ("view", ("view", "type"), "str"),
        ("view", ("view", "callback_id"), "str"),
        ("view", ("view", "state"), "object null"),
        ("view", ("view", "app_installed_team_id"), "str null"),
        ("view", ("response_urls",), "array"),
        ("view", ("user",), "object"),
    ]
]

_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=8))
_JSON_TYPES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "bool": st.booleans(),
    "int": st.integers(),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "str": st.text(max_size=12),
    "array": st.lists(_SCALAR | st.dictionaries(st.text(max_size=4), _SCALAR, max_size=2),
                      max_size=3),
    "object": st.dictionaries(st.sampled_from(["id", "type", "x", "name", "callback_id"]),
                              _SCALAR, max_size=3),
}


def _wrong_type(allowed: frozenset[str]) -> st.SearchStrategy[Any]:
    """A JSON value of a type ``allowed`` does not name (no field read takes a number)."""
    return st.sampled_from(sorted(set(_JSON_TYPES) - allowed)).flatmap(
        lambda name: _JSON_TYPES[name])


@st.composite
def _wrongly_typed(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], Any]:
    name, path, allowed = draw(st.sampled_from(FIELDS))
    return name, path, draw(_wrong_type(allowed))


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_wrongly_typed())
def test_any_field_read_of_any_wrong_json_type_is_400_and_never_logged(
    bot_url: str, fake_slack, caplog, case: tuple[str, tuple[Any, ...], Any],
) -> None:
    name, path, value = case
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    marker = f"MARKER-{uuid.uuid4().hex}"
    kind, body = _bodies(fake_slack.team_id, fake_slack.response_url("r1"))[name]
    body = _changed(body, ("token",), marker)
    raw, content_type = _encode(kind, _changed(body, path, value))

    answer = post(bot_url, raw, content_type=content_type)

    assert answer.status_code == 400, _case(name, path, value)
    assert _no_marker_logged(caplog.records, marker)


_ANY_JSON = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                         max_leaves=6)


@st.composite
def _anything_anywhere(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], Any]:
    """Any JSON at any path of a genuine body, or at a key Bolt reads that it lacks."""
    name = draw(st.sampled_from(["event", "function", "click", "home", "shortcut", "view"]))
    _, body = _bodies("T0TEST", "https://hooks.slack.com/x")[name]
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, prefix: tuple[Any, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            paths.append((*prefix, key))
            if isinstance(child, dict | list):
                walk(child, (*prefix, key))

    walk(body, ())
    paths += [(key,) for key in ("user", "team", "enterprise", "channel", "authorizations",
                                 "event", "view", "message", "response_urls", "actions",
                                 "function_data", "is_ext_shared_channel") if key not in body]
    return name, draw(st.sampled_from(paths)), draw(_ANY_JSON)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=_anything_anywhere())
def test_whatever_a_signed_body_holds_the_answer_is_never_a_5xx(
    bot_url: str, fake_slack, caplog, case: tuple[str, tuple[Any, ...], Any],
) -> None:
    name, path, value = case
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    marker = f"MARKER-{uuid.uuid4().hex}"
    kind, body = _bodies(fake_slack.team_id, fake_slack.response_url("r1"))[name]
    body = _changed(_changed(body, ("token",), marker), path, value)
    if body.get("type") == "event_callback" and path != ("event_id",):
        body["event_id"] = f"Ev{uuid.uuid4().hex}"
    raw, content_type = _encode(kind, body)

    answer = post(bot_url, raw, content_type=content_type)

    assert answer.status_code in (200, 400, 404), _case(name, path, value)
    assert _no_marker_logged(caplog.records, marker)


# -- what Bolt reads is what the front checked ---------------------------------------------

@pytest.mark.parametrize(("text", "channel_name"), [("status payload", "video-ops"),
                                                    ("help", "payload-team")])
def test_a_command_saying_payload_is_answered(slack: SlackSender, text: str,
                                              channel_name: str) -> None:
    # Bolt takes any form with "payload" in its text for an interactive payload and,
    # finding no such field, for an empty body: no listener, 404, "dispatch_failed".
    sent = slack.post(urlencode({
        "command": "/videojobs", "text": text, "user_id": "U1", "channel_id": "C1",
        "channel_name": channel_name, "team_id": slack.fake.team_id,
        "response_url": slack.fake.response_url("r1"), "trigger_id": "1.2.3"}))

    assert sent.status == 200, sent.body
    assert slack.answers()[0]["response_type"] == "ephemeral"


# -- Slack's retries of an event: acked at once, handled once ------------------------------

def _home_opened(team: str, event: str, user: str = "U1") -> bytes:
    return json.dumps({
        "token": "MARKER", "team_id": team, "api_app_id": "A1", "type": "event_callback",
        "event_id": event, "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
                  "event_ts": f"{time.time():.6f}"}}).encode()


def _retry(num: int, reason: str = "http_timeout") -> dict[str, str]:
    return {"X-Slack-Retry-Num": str(num), "X-Slack-Retry-Reason": reason}


def test_an_event_slack_retries_is_acked_at_once_and_handled_once(
    bot_url: str, services: Services, fake_slack, mocker, caplog,
) -> None:
    caplog.set_level(logging.INFO)
    opened = mocker.spy(services.home, "opened")
    body = _home_opened(fake_slack.team_id, "Ev0RETRY01")

    first = post(bot_url, body, content_type="application/json")
    assert first.status_code == 200
    assert fake_slack.wait_for(lambda f: opened.call_count == 1, timeout=5)
    for num in (1, 2, 3):
        started = time.monotonic()
        retry = post(bot_url, body, content_type="application/json", **_retry(num))

        assert retry.status_code == 200 and retry.content == b""
        assert time.monotonic() - started < 1.5  # well inside Slack's 3 s, on a busy machine

    time.sleep(1.0)  # a second handling would be queued by now
    assert opened.call_count == 1
    assert "event Ev0RETRY01 already let through (Slack's retry 3)" in caplog.text
    assert "MARKER" not in caplog.text
    # Another event of the same person is its own.
    assert post(bot_url, _home_opened(fake_slack.team_id, "Ev0RETRY02"),
                content_type="application/json").status_code == 200
    assert fake_slack.wait_for(lambda f: opened.call_count == 2, timeout=5)


def test_a_retry_whose_first_delivery_never_arrived_is_handled(
    bot_url: str, services: Services, fake_slack, mocker,
) -> None:
    opened = mocker.spy(services.home, "opened")
    body = _home_opened(fake_slack.team_id, "Ev0LOST001")

    assert post(bot_url, body, content_type="application/json",
                **_retry(1, "http_error")).status_code == 200
    assert fake_slack.wait_for(lambda f: opened.call_count == 1, timeout=5)
    assert post(bot_url, body, content_type="application/json", **_retry(2)).status_code == 200
    time.sleep(0.5)
    assert opened.call_count == 1


@pytest.mark.postgres
def test_retries_reaching_other_processes_are_handled_once(
    bot_settings: Settings, postgres_url: str, fake_slack, mocker,
) -> None:
    from bot.wiring.services import build_services

    shared = bot_settings.model_copy(update={"database_url": postgres_url})
    processes = [build_services(shared) for _ in range(2)]
    spies = [mocker.spy(each.home, "opened") for each in processes]
    apps = [make_wsgi_app(each, shared, answers=AnswerHere(each)) for each in processes]
    body = _home_opened(fake_slack.team_id, "Ev0SHARED1")
    try:
        with serving(apps[0]) as one, serving(apps[1]) as other:
            assert post(one, body, content_type="application/json").status_code == 200
            for num, url in ((1, other), (2, one), (3, other)):
                assert post(url, body, content_type="application/json",
                            **_retry(num)).status_code == 200
            assert fake_slack.wait_for(lambda f: sum(s.call_count for s in spies) >= 1, 5)
            time.sleep(1.0)
    finally:
        for each in processes:
            each.tracking.store.close()
    assert [s.call_count for s in spies] == [1, 0]


def test_when_the_database_cannot_tell_the_event_is_handled_not_lost(
    bot_url: str, services: Services, fake_slack, mocker, monkeypatch, caplog,
) -> None:
    from sqlalchemy.exc import OperationalError

    def unreachable(event_id: str, now: Any) -> bool:
        raise OperationalError("INSERT INTO event_receipts", {}, Exception("connection refused"))

    monkeypatch.setattr(services.tracking.store, "first_event", unreachable)
    opened = mocker.spy(services.home, "opened")

    answer = post(bot_url, _home_opened(fake_slack.team_id, "Ev0NODB001"),
                  content_type="application/json", **_retry(1))

    assert answer.status_code == 200
    assert fake_slack.wait_for(lambda f: opened.call_count == 1, timeout=5)
    assert "could not tell whether Slack event Ev0NODB001 is a retry (OperationalError)" in (
        caplog.text)
