"""Time windows: ``today``, ``yesterday``, ``24h``, ``7d``, ``Nh``, ``Nd``,
``since YYYY-MM-DD`` and ``YYYY-MM-DD..YYYY-MM-DD``.

"Today" is midnight in the *requesting user's* timezone (README.md, "What it does"), computed with
zoneinfo so daylight-saving days are right; the API wants UTC bounds, which
:func:`resolve` returns (``JobQuery`` formats them as ``YYYY-MM-DDTHH:MM:SSZ``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .types import Window

#: A year back is plenty for chat-ops, and keeps a typo like 99999d from paging forever.
MAX_HOURS = 24 * 366
MAX_DAYS = 366
ACCEPTED = "`today`, `yesterday`, `24h`, `7d`, `since 2026-01-31` or `2026-01-01..2026-01-31`"

_RELATIVE = re.compile(r"^(\d{1,6})([hd])$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class WindowError(ValueError):
    """The text is not a window; the message says what is accepted."""


def looks_like_window(token: str) -> bool:
    """True for a token that starts a window (so the parser can tell it from a filter)."""
    t = token.lower()
    return t in ("today", "yesterday", "since") or bool(_RELATIVE.match(t) or _RANGE.match(t))


def parse_window(tokens: list[str]) -> Window:
    """One window from its tokens (``since`` takes the next one)."""
    text = " ".join(tokens)
    words = [t.lower() for t in tokens]
    if words in (["today"], ["yesterday"]):
        return Window(kind="today" if words[0] == "today" else "yesterday", text=words[0])
    if len(words) == 1 and (m := _RELATIVE.match(words[0])):
        amount, unit = int(m[1]), m[2]
        limit = MAX_HOURS if unit == "h" else MAX_DAYS
        if not 1 <= amount <= limit:
            raise WindowError(f"`{text}` is out of range: use 1-{limit}{unit}")
        return Window(kind="hours" if unit == "h" else "days", text=words[0], amount=amount)
    if len(words) == 2 and words[0] == "since":
        return Window(kind="since", text=text, start=_date(tokens[1]))
    if len(words) == 1 and (m := _RANGE.match(words[0])):
        start, end = _date(m[1]), _date(m[2])
        if end < start:
            raise WindowError(f"`{text}` ends before it starts")
        return Window(kind="range", text=words[0], start=start, end=end)
    raise WindowError(f"`{text}` is not a time window; use {ACCEPTED}")


def _date(text: str) -> date:
    # fromisoformat alone also takes week dates (2026W011) and 20260131.
    try:
        if not _DATE.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise WindowError(f"`{text}` is not a date; use YYYY-MM-DD") from None


def resolve(window: Window, tz: ZoneInfo, now: datetime) -> tuple[datetime, datetime | None]:
    """``(create_since, create_until)`` in UTC; ``create_until`` is None for "until now".
    Both bounds are inclusive in the API, so a day ends one second before the next."""
    local_today = now.astimezone(tz).date()
    match window.kind:
        case "today":
            return _midnight(local_today, tz), None
        case "yesterday":
            today = _midnight(local_today, tz)
            return _midnight(local_today - timedelta(days=1), tz), today - timedelta(seconds=1)
        case "hours":
            return _whole_minute(now - timedelta(hours=window.amount)), None
        case "days":
            return _whole_minute(now - timedelta(days=window.amount)), None
        case "since":
            assert window.start is not None
            return _midnight(window.start, tz), None
        case "range":
            assert window.start is not None and window.end is not None
            end = _midnight(window.end + timedelta(days=1), tz) - timedelta(seconds=1)
            return _midnight(window.start, tz), end
    raise AssertionError(f"unhandled window kind {window.kind}")


def _whole_minute(moment: datetime) -> datetime:
    """A relative window starts on a whole minute (up to 59 s more history). To the
    second, ``failed 24h`` asked a new question every second, so the cached client
    (keyed by the query) never answered a repeat from memory."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``, as UTC. zoneinfo resolves a midnight that
    falls in a DST gap (e.g. America/Santiago) with the offset before the change."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def describe(window: Window | None, tz: ZoneInfo) -> str:
    """``today (Europe/Berlin)``, ``last 24h``…, for titles."""
    if window is None:
        return "last 30 days"  # docs/metastudio-api.md: the list's default coverage
    if window.kind in ("hours", "days"):
        return f"last {window.text}"
    return f"{window.text} ({tz.key})"


#: ``90m``, ``2h``, ``1h30m``, ``3d`` (``min`` also spelled out).
_DURATION = re.compile(r"^(?:(\d{1,4})d)?(?:(\d{1,5})h)?(?:(\d{1,6})(?:m|min))?$")
DURATION_EXAMPLES = "`30m`, `2h`, `1h30m` or `3d`"


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``30m``, ``2h``, ``1h30m`` or ``3d`` (1 minute to
    366 days)."""
    m = _DURATION.match(text.lower())
    if not m or not any(m.groups()):
        raise WindowError(f"`{text}` is not a duration; use {DURATION_EXAMPLES}")
    days, hours, minutes = (int(g) if g else 0 for g in m.groups())
    seconds = days * 86400 + hours * 3600 + minutes * 60
    if not 60 <= seconds <= MAX_DAYS * 86400:
        raise WindowError(f"`{text}` is out of range: from 1 minute to {MAX_DAYS} days")
    return seconds
