"""Answers at response_urls (bot/slack/response_url.py): kept-alive connections to Slack, one
retry when a connection drops, and a log line (never an exception) when Slack cannot
be reached."""

from __future__ import annotations

import logging

import pytest

from bot.slack.response_url import ResponseUrls
from tests.fakes.raw_http import RawHttpServer, reset


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
