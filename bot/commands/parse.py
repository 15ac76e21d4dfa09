"""``/videojobs`` text -> a typed :class:`~bot.commands.types.Command`.

Never raises: every text becomes a command, an :class:`Invalid` with one line saying
what was wrong and what is accepted, or :class:`Help` with the closest command. Values
only ever reach ``JobQuery`` fields (which validate again), so nothing typed can add or
change an upstream query parameter.
"""

from __future__ import annotations

import difflib
import shlex

from ..metastudio.models import JobState
from ..metastudio.query import QueryJobType, valid_job_id
from .types import (
    Command,
    Help,
    Invalid,
    Listing,
    Status,
    Subscribe,
    Subscriptions,
    Summary,
    Track,
    Tracked,
    Unsubscribe,
    Untrack,
)
from .windows import WindowError, looks_like_window, parse_window
from .words import STATE_COMMANDS, STATE_WORDS, TYPE_WORDS, state_word

#: Job ids one command takes at most: a status card is up to three of Slack's 50 blocks a
#: message; a tracking message packs one line per job.
MAX_IDS = {"status": 20, "track": 50}
#: For commands not in MAX_IDS.
DEFAULT_MAX_IDS = 20
MAX_TEXT = 1000
#: A whole job id, as the examples in help and errors show them.
EXAMPLE_ID = "26f06524-4f75-4b3a-a853-b649a21aaf66"

COMMANDS = (
    "help", "status", *STATE_COMMANDS, "list", "summary", "track", "untrack", "tracked",
    "subscribe", "unsubscribe", "subscriptions",
)
LIST_KEYS = ("state", "type", "asset", "script", "sort")
SUBSCRIBE_KEYS = ("type", "asset", "script")
OUTCOMES = ("failed", "finished", "all")
# Slack clients turn straight double quotes, which group words, into typographic ones.
# Single quotes group nothing, so a typographic apostrophe (Ana’s) stays as typed.
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"'})


def parse(text: str) -> Command:
    """Parse the text after ``/videojobs`` (a leading ``/videojobs`` is tolerated)."""
    try:
        tokens = _tokens(text)
    except ValueError as e:
        return Invalid(str(e))
    if tokens and tokens[0].lower() == "/videojobs":
        tokens = tokens[1:]
    if not tokens:
        return Help()
    word, args = tokens[0].lower(), tokens[1:]
    try:
        return _command(word, args)
    except _Refused as e:
        return Invalid(str(e))


class _Refused(Exception):
    pass


def _tokens(text: str) -> list[str]:
    # Slack escapes &, < and > in command text even with should_escape off.
    text = _slack_unescape(text or "").translate(_QUOTES)
    if len(text) > MAX_TEXT:
        raise ValueError(f"That command is too long; keep it under {MAX_TEXT} characters.")
    # Only double quotes group words: an apostrophe (asset=Ana's, or the ’ a phone types)
    # is part of a name, and a backslash is just a character (no escapes).
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split, lexer.quotes, lexer.escape, lexer.commenters = True, '"', "", ""
    try:
        return list(lexer)
    except ValueError:
        raise ValueError('A quote is not closed; write asset="Name with spaces".') from None


def _slack_unescape(text: str) -> str:
    """Undo exactly Slack's escaping of ``&``, ``<`` and ``>``; ``html.unescape`` would
    also turn text like ``&lt`` (no semicolon) or ``&copy;`` into other characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _command(word: str, args: list[str]) -> Command:
    if word == "help":
        return Help()
    if word == "status":
        return Status(_job_ids(args, "status"))
    if word in STATE_WORDS and word not in ("succeed", "block"):
        return _listing(args, states=(STATE_WORDS[word],), keys=LIST_KEYS[1:])
    if word == "list":
        return _listing(args, states=(), keys=LIST_KEYS)
    if word == "summary":
        window = _window(args, "summary")
        return Summary(window) if window else Summary()
    if word == "track":
        return Track(_job_ids(args, "track"))
    if word == "untrack":
        ids = _job_ids(args, "untrack")
        if len(ids) > 1:
            raise _Refused("`untrack` takes one job id at a time.")
        return Untrack(ids[0])
    if word == "tracked":
        _no_args(args, "tracked")
        return Tracked()
    if word == "subscribe":
        return _subscribe(args)
    if word == "unsubscribe":
        return _unsubscribe(args)
    if word == "subscriptions":
        _no_args(args, "subscriptions")
        return Subscriptions()
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    return Help(unknown=word[:40], suggestion=close[0] if close else None)


def _no_args(args: list[str], command: str) -> None:
    if args:
        raise _Refused(f"`{command}` takes no arguments.")


def _job_ids(args: list[str], command: str) -> tuple[str, ...]:
    if not args:
        raise _Refused(f"`{command}` needs a job id, e.g. `/videojobs {command} {EXAMPLE_ID}`.")
    ids = tuple(dict.fromkeys(part for arg in args for part in arg.split(",") if part))
    problem = job_ids_problem(ids, command)
    if problem:
        raise _Refused(problem)
    return ids


def job_ids_problem(ids: tuple[str, ...] | list[str], command: str) -> str | None:
    """The one rule for job ids a command may carry (typed, or from a button): what is
    wrong with ``ids`` in one line, or None."""
    for job_id in ids:
        if not valid_job_id(job_id):
            return (f"`{_shown(job_id)}` is not a job id: use letters, digits, `-` and `_`, "
                    "at most 64.")
    if not ids:
        return f"`{command}` needs a job id."
    limit = MAX_IDS.get(command, DEFAULT_MAX_IDS)
    if len(ids) > limit:
        return f"`{command}` takes at most {limit} job ids at once."
    return None


def _split_filters(args: list[str], keys: tuple[str, ...], command: str):
    """``key=value`` pairs (keys known to ``command``) and the rest (the window)."""
    filters: dict[str, str] = {}
    rest: list[str] = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            rest.append(arg)
            continue
        key = key.lower()
        if key not in keys:
            accepted = ", ".join(f"`{k}=`" for k in keys)
            raise _Refused(f"`{_shown(arg)}` is not a filter of `{command}`; use {accepted}.")
        if key in filters:
            raise _Refused(f"`{key}=` is given twice.")
        if not value:
            raise _Refused(f"`{key}=` needs a value.")
        filters[key] = value
    return filters, rest


def _listing(args: list[str], *, states: tuple[JobState, ...], keys: tuple[str, ...]) -> Listing:
    command = "list" if not states else state_word(states[0])
    # PRODUCT.md: `failed` and the other state commands default to today; `list` to the
    # API's own coverage, so `list state=processing` also shows last week's stuck jobs.
    default_today = bool(states)
    filters, rest = _split_filters(args, keys, command)
    if "state" in filters:
        states = _states(filters["state"])
    sort = filters.get("sort", "desc").lower()
    if sort not in ("asc", "desc"):
        raise _Refused(f"`sort={_shown(sort)}` is not a sort order; use `sort=asc` or `sort=desc`.")
    window = _window(rest, command)
    if window is None and default_today:
        window = parse_window(["today"])
    return Listing(
        states=states,
        job_type=_job_type(filters.get("type")),
        asset_name=_text(filters.get("asset"), "asset"),
        script_id=_text(filters.get("script"), "script"),
        sort_dir=sort,  # type: ignore[arg-type]
        window=window,
    )


def _states(text: str) -> tuple[JobState, ...]:
    states = []
    for word in filter(None, (w.strip().lower() for w in text.split(","))):
        by_api_name = next((s for s in JobState if s.value.lower() == word), None)
        state = STATE_WORDS.get(word) or by_api_name
        if state is None:
            raise _Refused(
                f"`{_shown(word)}` is not a state; use "
                + ", ".join(f"`{w}`" for w in STATE_COMMANDS) + "."
            )
        states.append(state)
    if not states:
        raise _Refused("`state=` needs at least one state.")
    return tuple(dict.fromkeys(states))


def _job_type(text: str | None) -> QueryJobType | None:
    if text is None:
        return None
    kind = TYPE_WORDS.get(text.lower())
    if kind is None:
        raise _Refused(f"`type={_shown(text)}` is not a job type; use `type=2d` or `type=photo`.")
    return kind


def _text(value: str | None, key: str) -> str | None:
    if value is None:
        return None
    # JobQuery's rule for free text, so a parsed value is never refused later.
    if len(value) > 256 or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _Refused(f"`{key}=` takes up to 256 printable characters.")
    return value


def _window(tokens: list[str], command: str):
    if not tokens:
        return None
    if not looks_like_window(tokens[0]):
        raise _Refused(
            f"`{_shown(tokens[0])}` is not understood by `{command}`; "
            "give a time window such as `today`, `7d` or `since 2026-01-31`."
        )
    try:
        return parse_window(tokens)
    except WindowError as e:
        raise _Refused(str(e)) from None


def _subscribe(args: list[str]) -> Subscribe:
    filters, rest = _split_filters(args, SUBSCRIBE_KEYS, "subscribe")
    if len(rest) > 1 or (rest and rest[0].lower() not in OUTCOMES):
        raise _Refused(
            f"`{_shown(' '.join(rest))}` is not an outcome; use `failed`, `finished` or `all`."
        )
    return Subscribe(
        outcome=rest[0].lower() if rest else "failed",  # type: ignore[arg-type]
        job_type=_job_type(filters.get("type")),
        asset_name=_text(filters.get("asset"), "asset"),
        script_id=_text(filters.get("script"), "script"),
    )


def _unsubscribe(args: list[str]) -> Unsubscribe:
    if not args:
        return Unsubscribe()
    number = args[0].removeprefix("#") if len(args) == 1 else ""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if number.isascii() and number.isdigit() and len(number) < 10:
        return Unsubscribe(int(number))
    raise _Refused("`unsubscribe` takes a subscription number from `/videojobs subscriptions`.")


def _shown(text: str) -> str:
    """User text quoted back in a message: short, on one line (a quoted value may hold a
    newline), and no backticks to break the code span."""
    text = " ".join(text.replace("`", "'").split()) or "(blank)"
    return text if len(text) <= 40 else text[:39] + "…"
