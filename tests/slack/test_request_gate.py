"""The front's gate on its own, request by request: each way a request is refused names
its exact status line (the reason phrase is what the access log and Slack's delivery
log show) and the one-line reason the bot logs. The same gate behind the real WSGI
server: tests/slack/test_request_front.py."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from typing import Any

import pytest

from bot.slack.request_front import (
    MAX_AGE_SECONDS,
    Refusal,
    SlackRequestGate,
    parse,
    refuse,
    shape_problem,
)

SECRET = "gate-secret"
NOW = 1_800_000_000


def environ(body: bytes = b"command=%2Fvideojobs&text=help&user_id=U1&channel_id=C1"
                          b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1",
            *, timestamp: int | str = NOW, signature: str | None = None,
            length: int | str | None = None, content_type: str = "application/x-www-form-"
            "urlencoded", retry: str | None = None) -> dict[str, Any]:
    stamp = str(timestamp)
    if signature is None:
        mac = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        signature = "v0=" + mac.hexdigest()
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events",
           "CONTENT_TYPE": content_type, "wsgi.input": io.BytesIO(body),
           "HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp, "HTTP_X_SLACK_SIGNATURE": signature}
    for header in [h for h in ("HTTP_X_SLACK_REQUEST_TIMESTAMP", "HTTP_X_SLACK_SIGNATURE")
                   if env[h] == "omit"]:
        del env[header]
    if length != "omit":
        env["CONTENT_LENGTH"] = str(len(body) if length is None else length)
    if retry is not None:
        env["HTTP_X_SLACK_RETRY_NUM"] = retry
    return env


def gate(secret: str = SECRET, **kwargs: Any) -> SlackRequestGate:
    return SlackRequestGate(secret, clock=lambda: float(NOW), **kwargs)


EVENT = json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
                    "api_app_id": "A1", "event": {"type": "app_home_opened", "user": "U1",
                                                  "tab": "home"}}).encode()


@pytest.mark.parametrize(("name", "kwargs", "refusal"), [
    ("no content-length", {"length": "omit"},
     Refusal("411 Length Required", "no or malformed Content-Length")),
    ("malformed content-length", {"length": "12a"},
     Refusal("411 Length Required", "no or malformed Content-Length")),
    ("too large", {"length": 512 * 1024 + 1},
     Refusal("413 Content Too Large", f"body of {512 * 1024 + 1} bytes")),
    ("no signature", {"signature": ""},
     Refusal("401 Unauthorized", "missing or malformed signature headers")),
    ("no signature header", {"signature": "omit"},
     Refusal("401 Unauthorized", "missing or malformed signature headers")),
    ("no timestamp header", {"timestamp": "omit"},
     Refusal("401 Unauthorized", "missing or malformed signature headers")),
    ("v1 signature", {"signature": "v1=" + "0" * 64},
     Refusal("401 Unauthorized", "missing or malformed signature headers")),
    ("timestamp not a number", {"timestamp": "soon"},
     Refusal("401 Unauthorized", "missing or malformed signature headers")),
    ("old", {"timestamp": NOW - MAX_AGE_SECONDS - 1},
     Refusal("401 Unauthorized", "timestamp outside the 5-minute window")),
    ("from the future", {"timestamp": NOW + MAX_AGE_SECONDS + 1},
     Refusal("401 Unauthorized", "timestamp outside the 5-minute window")),
    ("short body", {"length": 400},
     Refusal("400 Bad Request", "body shorter than its Content-Length")),
    ("forged", {"signature": "v0=" + "0" * 64},
     Refusal("401 Unauthorized", "invalid signature")),
])
def test_each_refusal_has_its_status_line_and_reason(name: str, kwargs: dict[str, Any],
                                                     refusal: Refusal) -> None:
    assert gate().admit(environ(**kwargs)) == refusal, name


def test_without_a_secret_everything_is_refused() -> None:
    assert gate("").admit(environ()) == Refusal(
        "401 Unauthorized", "no signing secret: every request is refused")


def test_the_edges_of_the_window_are_inside_it() -> None:
    for stamp in (NOW - MAX_AGE_SECONDS, NOW + MAX_AGE_SECONDS):
        assert gate().admit(environ(timestamp=stamp)) is None


@pytest.mark.parametrize(("body", "content_type", "refusal"), [
    (b"\xff\xfe", "application/x-www-form-urlencoded",
     Refusal("400 Bad Request", "signed body is not UTF-8")),
    (b"{not json", "application/json",
     Refusal("400 Bad Request", "signed body is not Slack's format")),
    (b'{"type": "event_callback", "event_id": "Ev1", "event": "x"}', "application/json",
     Refusal("400 Bad Request", "signed body of the wrong shape: event: model_type")),
])
def test_a_signed_body_that_is_not_slacks_is_400(body: bytes, content_type: str,
                                                 refusal: Refusal) -> None:
    assert gate().admit(environ(body, content_type=content_type)) == refusal
    assert refusal.final  # Slack would send the same body again: told not to


@pytest.mark.parametrize(("retry", "shown"), [("1", "1"), ("2", "2"), ("3", "3"),
                                              ("9", "?"), (None, "?")])
def test_an_event_let_through_once_is_acked_again_not_handled(retry: str | None,
                                                              shown: str) -> None:
    seen: set[str] = set()

    def first_time(event: str) -> bool:
        new = event not in seen
        seen.add(event)
        return new

    front = gate(first_time=first_time)
    assert front.admit(environ(EVENT, content_type="application/json")) is None
    again = front.admit(environ(EVENT, content_type="application/json", retry=retry))
    assert again == Refusal("200 OK", f"event Ev1 already let through (Slack's retry {shown})")
    assert not again.final


def test_an_admitted_body_is_handed_on_as_checked_json() -> None:
    env = environ()
    assert gate().admit(env) is None
    handed = env["wsgi.input"].read()
    assert json.loads(handed)["text"] == "help"
    assert (env["CONTENT_TYPE"], env["CONTENT_LENGTH"]) == ("application/json",
                                                            str(len(handed)))


def test_refusals_slack_should_not_retry() -> None:
    assert [Refusal(s, "r").final for s in ("400 Bad Request", "413 Content Too Large",
                                            "401 Unauthorized", "411 Length Required")] == [
        True, True, False, False]


@pytest.mark.parametrize(("refusal", "status", "headers", "body", "logged"), [
    (Refusal("200 OK", "event Ev1 already let through (Slack's retry 1)"), "200 OK",
     [("Content-Length", "0")], b"",
     "acked POST /slack/events without handling it: event Ev1 already let through "
     "(Slack's retry 1)"),
    (Refusal("401 Unauthorized", "invalid signature"), "401 Unauthorized",
     [("Content-Type", "application/json"), ("Content-Length", "25")],
     b'{"error": "Unauthorized"}',
     "refused POST /slack/events: 401 Unauthorized (invalid signature)"),
    (Refusal("413 Content Too Large", "body of 9 bytes"), "413 Content Too Large",
     [("Content-Type", "application/json"), ("Content-Length", "30"),
      ("X-Slack-No-Retry", "1")], b'{"error": "Content Too Large"}',
     "refused POST /slack/events: 413 Content Too Large (body of 9 bytes)"),
])
def test_a_refusal_is_answered_and_logged_in_one_line(
        caplog: pytest.LogCaptureFixture, refusal: Refusal, status: str,
        headers: list[tuple[str, str]], body: bytes, logged: str) -> None:
    started: list[tuple[str, list[tuple[str, str]]]] = []
    with caplog.at_level(logging.INFO, logger="bot.slack.request_front"):
        answered = refuse(refusal, environ(), lambda s, h: started.append((s, h)))
    assert started == [(status, headers)] and answered == [body]
    assert caplog.messages == [logged]


def test_a_body_is_read_as_bolt_reads_it() -> None:
    # JSON when declared so, parameters of the media type aside, leading space and all.
    assert parse(' {"a": 1}', "application/json; charset=utf-8") == {"a": 1}
    # A form keeps its empty fields: an empty command text is a field, not a missing one.
    assert parse("text=&command=%2Fvideojobs", "application/x-www-form-urlencoded") == {
        "text": "", "command": "/videojobs"}
    assert parse("payload=%7B%22type%22%3A+%22shortcut%22%7D", None) == {"type": "shortcut"}
    assert parse("[1]", "application/json") is None


@pytest.mark.parametrize(("body", "problem"), [
    ({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": 5}]},
     "actions[0].action_id: string_type"),
    ({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "a"}],
      "response_url": "javascript:alert(1)"}, "response_url: not an http(s) URL"),
    ({"type": "view_submission", "user": {"id": "U1"}, "view": {"type": "modal"}},
     "view.callback_id: missing"),
    ({"type": "event_callback", "event_id": "Ev1", "event": {"type": "function_executed"}},
     "event: function_executed without function, its execution id or inputs"),
    ({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "a"}],
      "view": {"state": {"values": {"secret-block": "x"}}}}, "view.state.values: dict_type"),
    ({"type": "event_callback", "event_id": "Ev1", "event": None}, "body: event is null"),
])
def test_a_wrong_shape_names_the_field_and_why_never_a_value(body: dict[str, Any],
                                                            problem: str) -> None:
    assert shape_problem(body) == problem


def test_without_a_record_of_events_every_event_is_let_through() -> None:
    front = gate()  # no first_time: nothing to tell a retry by
    for _ in range(2):
        assert front.admit(environ(EVENT, content_type="application/json")) is None


def test_a_database_that_cannot_tell_lets_the_event_through_and_says_so(
        caplog: pytest.LogCaptureFixture) -> None:
    def unreachable(event: str) -> bool:
        raise ConnectionError("database away")

    with caplog.at_level(logging.WARNING, logger="bot.slack.request_front"):
        assert gate(first_time=unreachable).admit(
            environ(EVENT, content_type="application/json")) is None
    assert caplog.messages == ["could not tell whether Slack event Ev1 is a retry "
                               "(ConnectionError); handling it"]


class _Trickle(io.RawIOBase):
    """A request body arriving a byte at a time, as a slow socket may hand it over."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[:1], self.data[1:]
        return chunk


def test_a_body_read_in_pieces_is_read_whole() -> None:
    env = environ()
    env["wsgi.input"] = _Trickle(env["wsgi.input"].getvalue())
    assert gate().admit(env) is None


def test_the_largest_content_length_read_is_twelve_digits() -> None:
    assert gate().admit(environ(length="9" * 12)) == Refusal(
        "413 Content Too Large", f"body of {'9' * 12} bytes")
    assert gate().admit(environ(length="9" * 13)) == Refusal(
        "411 Length Required", "no or malformed Content-Length")
