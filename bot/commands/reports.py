"""``report daily|weekly …``, ``reports``, ``unreport ID``: parsing and answers.

:func:`parse_report` is the parser's hook (``bot.commands.parse``) for these three words;
:class:`ReportCommands` is the router's (``bot.commands.router``). The scheduler that
posts the reports is :mod:`bot.tracking.watches.reports`.
"""

from __future__ import annotations

import logging
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .types import Command, Invalid, ListReports, ScheduleReport, Unreport

log = logging.getLogger(__name__)

WORDS = ("report", "reports", "unreport")
USAGE = ("Use `/videojobs report daily 09:00 failed` or "
         "`/videojobs report weekly mon 09:00 summary tz=Europe/Berlin`.")
_WEEKDAYS = {name: i for i, names in enumerate((
    ("mon", "monday"), ("tue", "tuesday"), ("wed", "wednesday"), ("thu", "thursday"),
    ("fri", "friday"), ("sat", "saturday"), ("sun", "sunday"))) for name in names}
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
#: IANA names only (``Europe/Berlin``, ``UTC``, ``America/Argentina/Buenos_Aires``):
#: zoneinfo would also read a relative file path.
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")


def parse_report(word: str, args: list[str]) -> Command:
    """The command for ``word`` (one of :data:`WORDS`) and its arguments."""
    if word == "reports":
        return ListReports() if not args else Invalid("`reports` takes no arguments.")
    if word == "unreport":
        number = args[0].removeprefix("#") if len(args) == 1 else ""
        if number.isascii() and number.isdigit() and len(number) < 10:
            return Unreport(int(number))
        return Invalid("`unreport` takes a report number from `/videojobs reports`.")
    return _schedule(args)


def _schedule(args: list[str]) -> Command:
    options = [a for a in args if "=" in a]
    words = [a.lower() for a in args if "=" not in a]
    tz = None
    for option in options:
        key, _, value = option.partition("=")
        if key.lower() != "tz" or tz is not None:
            return Invalid(f"`{_shown(option)}` is not an option of `report`; only `tz=Area/City`.")
        if not _ZONE.fullmatch(value) or not _known_zone(value):
            return Invalid(f"`{_shown(value)}` is not a time zone; use an IANA name such "
                           "as `tz=Europe/Berlin`.")
        tz = value
    if not words or words[0] not in ("daily", "weekly"):
        return Invalid(f"`report` needs `daily` or `weekly` first. {USAGE}")
    cadence, rest = words[0], words[1:]
    weekday = None
    if cadence == "weekly":
        if not rest or rest[0] not in _WEEKDAYS:
            return Invalid("`report weekly` needs a weekday (`mon` … `sun`), e.g. "
                           "`report weekly mon 09:00 summary`.")
        weekday, rest = _WEEKDAYS[rest[0]], rest[1:]
    if len(rest) != 2:
        return Invalid(f"`report {cadence}` needs a time and `failed` or `summary`. {USAGE}")
    at, kind = rest
    match = _TIME.fullmatch(at)
    if match is None:
        return Invalid(f"`{_shown(at)}` is not a time of day; use 24-hour `HH:MM`, e.g. `09:00`.")
    if kind not in ("failed", "summary"):
        return Invalid(f"`{_shown(kind)}` is not a report; use `failed` or `summary`.")
    return ScheduleReport(
        cadence="weekly" if cadence == "weekly" else "daily",
        minute_of_day=int(match[1]) * 60 + int(match[2]),
        kind="summary" if kind == "summary" else "failed",
        weekday=weekday, tz=tz,
    )


def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _shown(text: str) -> str:
    text = " ".join(text.replace("`", "'").split()) or "(blank)"
    return text if len(text) <= 40 else text[:39] + "…"
