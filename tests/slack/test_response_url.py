"""Answers at response_urls (bot/slack/response_url.py): kept-alive connections to Slack, one
retry when a connection drops, and a log line (never an exception) when Slack cannot
be reached."""

from __future__ import annotations

import logging

import pytest
import requests

from bot.slack.response_url import ResponseUrls
from tests.fakes.raw_http import RawHttpServer, ok, reset


def test_answers_share_one_kept_alive_connection(fake_slack) -> None:
    responses = ResponseUrls(pool_size=2)

    for name in ("a", "b", "c"):
        posted = responses.post(fake_slack.response_url(name), {"text": name})
        assert (posted.status_code, posted.body) == (200, "ok")

    assert [fake_slack.responses[n][0]["text"] for n in "abc"] == ["a", "b", "c"]
    assert len(set(fake_slack.response_peers)) == 1, fake_slack.response_peers


def test_a_dropped_connection_is_tried_once_more_then_logged(caplog) -> None:
    server = RawHttpServer()
    server.behaviour = reset()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.slack.response_url"):
            posted = ResponseUrls().post(f"{server.url}/response/x", {"text": "hi"})
    finally:
        server.close()

    assert posted.status_code == 0 and posted.body == "ConnectionError"
    assert len(server.requests) == 2  # the answer, and one retry
    assert "could not be reached: ConnectionError" in caplog.text


def test_slacks_refusal_is_returned_not_retried(fake_slack) -> None:
    fake_slack.reject_images = True
    blocks = [{"type": "image", "image_url": "https://example.com/x.png", "alt_text": "x"}]

    posted = ResponseUrls().post(fake_slack.response_url("r"), {"text": "t", "blocks": blocks})

    assert (posted.status_code, posted.body) == (400, "invalid_blocks")
    assert sum(1 for c in fake_slack.calls if c.method == "response_url") == 1


def test_no_response_url_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="no response_url"):
        ResponseUrls().post(None, {"text": "t"})


def test_a_netrc_never_adds_credentials_to_an_answer(fake_slack, tmp_path, monkeypatch) -> None:
    # requests reads ~/.netrc for every request of a session that trusts the
    # environment; the answers' session reads nothing of it.
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert requests.Session().get(fake_slack.response_url("probe").replace(
        "/response/", "/api/")).request.headers.get("Authorization")  # as requests would

    ResponseUrls().post(fake_slack.response_url("n"), {"text": "hi"})

    [call] = [c for c in fake_slack.calls if c.method == "response_url"]
    assert "Authorization" not in call.headers


def test_a_proxy_variable_is_still_honoured_read_once(monkeypatch) -> None:
    proxy = RawHttpServer()
    proxy.behaviour = ok({"ok": True})
    try:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        responses = ResponseUrls()

        posted = responses.post("http://hooks.example.invalid/response/p", {"text": "hi"})

        assert posted.status_code == 200
        assert proxy.requests == ["POST http://hooks.example.invalid/response/p HTTP/1.1"]
    finally:
        proxy.close()


def test_no_proxy_still_bypasses_the_proxy(fake_slack, monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")

    posted = ResponseUrls().post(fake_slack.response_url("np"), {"text": "hi"})

    assert posted.status_code == 200 and fake_slack.responses["np"][0]["text"] == "hi"
