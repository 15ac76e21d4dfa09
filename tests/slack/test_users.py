from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot.slack.users import TimezoneResolver
from tests.fakes.slack import FakeSlack

FALLBACK = ZoneInfo("UTC")


@pytest.fixture
def resolver(slack_client: WebClient) -> TimezoneResolver:
    return TimezoneResolver(slack_client, FALLBACK)


def test_uses_the_iana_name_from_users_info(fake_slack: FakeSlack, resolver) -> None:
    fake_slack.user_timezones["U1"] = "America/Los_Angeles"

    assert resolver.resolve("U1") == ZoneInfo("America/Los_Angeles")


def test_caches_answers(fake_slack: FakeSlack, resolver) -> None:
    fake_slack.user_timezones["U1"] = "Asia/Shanghai"

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(resolver.resolve, ["U1"] * 4))
    for _ in range(5):
        resolver.resolve("U1")

    assert len(fake_slack.calls_to("users.info")) <= 4


def test_slack_error_falls_back_and_logs_once(fake_slack: FakeSlack, resolver, caplog) -> None:
    fake_slack.fail("users.info", "missing_scope", times=2)

    with caplog.at_level(logging.WARNING, logger="bot.slack.users"):
        assert resolver.resolve("U1") == FALLBACK
        assert resolver.resolve("U2") == FALLBACK

    assert [r.getMessage() for r in caplog.records] == [
        "users.info answered missing_scope; using UTC for such users (logged once)"
    ]


def test_unknown_user_and_unknown_zone_fall_back(fake_slack: FakeSlack, resolver) -> None:
    fake_slack.user_timezones["U2"] = "Mars/Olympus_Mons"

    assert resolver.resolve("U1") == FALLBACK
    assert resolver.resolve("U2") == FALLBACK


def test_unreachable_slack_falls_back() -> None:
    client = WebClient(token="xoxb-x", base_url="http://127.0.0.1:9/api/", timeout=1)
    client.retry_handlers.clear()

    assert TimezoneResolver(client, ZoneInfo("Europe/Berlin")).resolve("U1") == ZoneInfo(
        "Europe/Berlin"
    )


def test_failures_are_retried_sooner_than_answers_expire(fake_slack: FakeSlack, slack_client):
    resolver = TimezoneResolver(slack_client, FALLBACK, ttl=3600, retry_after=0)
    fake_slack.fail("users.info", "ratelimited")

    assert resolver.resolve("U1") == FALLBACK
    fake_slack.user_timezones["U1"] = "Asia/Tokyo"
    assert resolver.resolve("U1") == ZoneInfo("Asia/Tokyo")
