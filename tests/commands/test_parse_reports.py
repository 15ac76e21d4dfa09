"""``report``, ``reports``, ``unreport``: typed commands, and one clear line for bad input."""

from __future__ import annotations

import pytest

from bot.commands.parse import parse
from bot.commands.types import Help, Invalid, ListReports, ScheduleReport, Unreport


@pytest.mark.parametrize(("text", "command"), [
    ("report daily 09:00 failed", ScheduleReport("daily", 540, "failed")),
    ("report DAILY 9:05 Summary", ScheduleReport("daily", 545, "summary")),
    ("report weekly mon 09:00 summary tz=Europe/Berlin",
     ScheduleReport("weekly", 540, "summary", 0, "Europe/Berlin")),
    ("report weekly Sunday 23:59 failed", ScheduleReport("weekly", 1439, "failed", 6)),
    ("report daily 00:00 failed tz=America/Argentina/Buenos_Aires",
     ScheduleReport("daily", 0, "failed", None, "America/Argentina/Buenos_Aires")),
    ("reports", ListReports()),
    ("unreport 3", Unreport(3)),
    ("unreport #12", Unreport(12)),
])
def test_report_commands(text, command):
    assert parse(text) == command


@pytest.mark.parametrize(("text", "says"), [
    ("report", "needs `daily` or `weekly`"),
    ("report hourly 09:00 failed", "needs `daily` or `weekly`"),
    ("report weekly 09:00 failed", "needs a weekday"),
    ("report daily 24:00 failed", "`24:00` is not a time of day"),
    ("report daily 9 failed", "`9` is not a time of day"),
    ("report daily 09:00 everything", "`everything` is not a report"),
    ("report daily 09:00", "needs a time and `failed` or `summary`"),
    ("report daily 09:00 failed tz=Mars/Olympus", "`Mars/Olympus` is not a time zone"),
    ("report daily 09:00 failed tz=../../etc/passwd", "is not a time zone"),
    ("report daily 09:00 failed tz=/etc/localtime", "is not a time zone"),
    ("report daily 09:00 failed tz=UTC tz=UTC", "only `tz=Area/City`"),
    ("report daily 09:00 failed channel=C2", "only `tz=Area/City`"),
    ("reports all", "takes no arguments"),
    ("unreport", "takes a report number"),
    ("unreport ²", "takes a report number"),
])
def test_bad_report_input_is_one_line(text, says):
    command = parse(text)
    assert isinstance(command, Invalid) and says in command.message


def test_a_typo_suggests_the_report_command():
    assert parse("reprots") == Help(unknown="reprots", suggestion="reports")
