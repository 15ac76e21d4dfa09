"""The value a "Show more" or "Post to channel" button carries, and its way back.

A button value comes back from Slack as user-controllable input, so it carries the
command's text, which is parsed and validated again exactly like a typed command; the
offset and bounds are checked against fixed limits.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import NamedTuple

from .parse import parse
from .types import Command, Listing, Status, Summary

#: Slack's limit on a button value.
MAX_BUTTON_VALUE = 2000
#: Offsets a "Show more" value may carry (a forged value must not page forever).
MAX_OFFSET = 10_000
#: Latest instant a button value's bounds may name (2100-01-01, epoch seconds).
MAX_EPOCH = 4_102_444_800

#: A listing's ``(create_since, create_until)`` in UTC.
Bounds = tuple[datetime | None, datetime | None]


#: An error code a "List jobs" button carries: what MetaStudio sends, bounded.
_CODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Decoded(NamedTuple):
    command: Command
    text: str
    bounds: Bounds | None
    #: The error code of a "List jobs" button of the triage block.
    error_code: str | None = None


def encode(text: str, offset: int, bounds: Bounds | None = None, *,
           error_code: str | None = None) -> str | None:
    """A button value carrying the command text, an offset and, for listings, the bounds
    of the answer (epoch seconds; ``until`` always set) and an error code; None if too
    long or the code is not one a button may carry."""
    data: dict[str, object] = {"t": text.strip(), "o": offset}
    if error_code is not None:
        if not _CODE.match(error_code):
            return None
        data["c"] = error_code
    if bounds is not None:
        since, until = bounds
        assert until is not None
        data["s"] = int(since.timestamp()) if since else None
        data["u"] = int(until.timestamp())
    value = json.dumps(data, separators=(",", ":"))
    return value if len(value) <= MAX_BUTTON_VALUE else None


def decode(value: str) -> Decoded | None:
    """A button value back to (command at its offset, text, bounds), validated like typed
    text; None for anything that is not a value :func:`encode` made."""
    try:
        data = json.loads(value)
        text, offset = data["t"], data["o"]
    # RecursionError: a forged value of deeply nested brackets ("[[[[…") exhausts the
    # JSON decoder's stack; it is as out of date as any other value we did not make.
    except (ValueError, KeyError, TypeError, RecursionError):
        return None
    if not isinstance(text, str) or not _whole(offset, MAX_OFFSET):
        return None
    bounds: Bounds | None = None
    if "u" in data:
        since, until = data.get("s"), data["u"]
        if not _whole(until, MAX_EPOCH) or not (since is None or _whole(since, until)):
            return None
        bounds = (_utc(since) if since is not None else None, _utc(until))
    error_code = data.get("c")
    if error_code is not None and not (isinstance(error_code, str) and _CODE.match(error_code)):
        return None
    command = parse(text)
    if isinstance(command, Listing):
        command = replace(command, offset=offset)
    if not isinstance(command, Listing | Status | Summary):
        return None
    return Decoded(command, text, bounds, error_code)


def _whole(number: object, maximum: int) -> bool:
    """A JSON integer from 0 to ``maximum`` (not a bool, which Python counts as an int)."""
    return isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= maximum


def _utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
