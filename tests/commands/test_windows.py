"""Windows in the requesting user's timezone, sent upstream in UTC."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.commands.windows import WindowError, describe, parse_window, resolve

NOW = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tokens", "tz", "expected"),
    [
        (["today"], "UTC", (utc(2026, 11, 24), None)),
        # 03:30 UTC is already 11:30 in Shanghai: its today began at 16:00 UTC yesterday.
        (["today"], "Asia/Shanghai", (utc(2026, 11, 23, 16), None)),
        # ...and in New York it is still the 23rd.
        (["today"], "America/New_York", (utc(2026, 11, 23, 5), None)),
        (["today"], "Asia/Kolkata", (utc(2026, 11, 23, 18, 30), None)),
        (["yesterday"], "UTC", (utc(2026, 11, 23), utc(2026, 11, 23, 23, 59, 59))),
        (["24h"], "Asia/Shanghai", (utc(2026, 11, 23, 3, 30), None)),
        (["7d"], "UTC", (utc(2026, 11, 17, 3, 30), None)),
        (["since", "2026-11-01"], "Europe/Berlin", (utc(2026, 10, 31, 23), None)),
    ],
)
def test_resolve(tokens, tz, expected):
    assert resolve(parse_window(tokens), ZoneInfo(tz), NOW) == expected


@pytest.mark.parametrize(
    ("tokens", "start"),
    [(["24h"], utc(2026, 11, 23, 3, 30)), (["7d"], utc(2026, 11, 17, 3, 30)),
     (["36h"], utc(2026, 11, 22, 15, 30))],
)
def test_relative_windows_start_on_a_whole_minute_so_repeats_are_one_query(tokens, start):
    # The cached client is keyed by the query: to the second, every repeat would miss.
    window = parse_window(tokens)

    for now in (utc(2026, 11, 24, 3, 30, 5), utc(2026, 11, 24, 3, 30, 59, 999_999)):
        assert resolve(window, ZoneInfo("UTC"), now) == (start, None)


def test_daylight_saving_days_have_their_real_length():
    # 2026-03-08: New York springs forward, the day has 23 hours.
    spring = resolve(parse_window(["2026-03-08..2026-03-08"]), ZoneInfo("America/New_York"), NOW)
    assert spring == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 3, 59, 59))
    # 2026-11-01: it falls back, the day has 25 hours.
    autumn = resolve(parse_window(["2026-11-01..2026-11-01"]), ZoneInfo("America/New_York"), NOW)
    assert autumn == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 4, 59, 59))


def test_yesterday_on_the_day_after_a_change_uses_the_offset_of_each_midnight():
    after_fallback = datetime(2026, 11, 2, 12, tzinfo=UTC)
    new_york = ZoneInfo("America/New_York")
    since, until = resolve(parse_window(["yesterday"]), new_york, after_fallback)
    assert (until - since).total_seconds() == 25 * 3600 - 1


def test_describe_names_the_timezone_of_calendar_windows():
    assert describe(parse_window(["today"]), ZoneInfo("Europe/Berlin")) == "today (Europe/Berlin)"
    assert describe(parse_window(["24h"]), ZoneInfo("Europe/Berlin")) == "last 24h"


def test_describe_relative_day_windows_and_the_apis_default():
    assert describe(parse_window(["7d"]), ZoneInfo("Europe/Berlin")) == "last 7d"
    assert describe(None, ZoneInfo("Europe/Berlin")) == "last 30 days"


@pytest.mark.parametrize(
    ("token", "ok"),
    [("1h", True), ("0h", False), ("8784h", True), ("8785h", False), ("367h", True),
     ("1d", True), ("0d", False), ("366d", True), ("367d", False)],
)
def test_relative_windows_have_a_unit_of_their_own_range(token, ok):
    if ok:
        assert parse_window([token]).amount == int(token[:-1])
    else:
        with pytest.raises(WindowError, match=f"`{token}` is out of range: use 1-"):
            parse_window([token])


def test_bounds_are_utc_on_a_machine_in_another_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert resolve(parse_window(["today"]), ZoneInfo("UTC"), NOW)[0] == utc(2026, 11, 24)
        since = resolve(parse_window(["24h"]), ZoneInfo("UTC"), NOW)[0]
        assert since == utc(2026, 11, 23, 3, 30) and since.utcoffset().total_seconds() == 0
        assert resolve(parse_window(["today"]), ZoneInfo("UTC"), NOW)[0].tzinfo is UTC
    finally:
        monkeypatch.undo()
        time.tzset()
