"""``/videojobs`` text -> a typed :class:`~bot.commands.types.Command`.

Never raises: every text becomes a command, an :class:`Invalid` with one line saying
what was wrong and what is accepted, or :class:`Help` with the closest command. Values
only ever reach ``JobQuery`` fields (which validate again), so nothing typed can add or
change an upstream query parameter.
"""

from __future__ import annotations

import difflib
import itertools
import re
import shlex
from collections.abc import Sequence

from ..metastudio.models import JobState
from ..metastudio.query import QueryJobType, valid_job_id
from .reports import WORDS as REPORT_WORDS
from .reports import parse_report
from .types import (
    Audit,
    ChannelSettings,
    Command,
    Help,
    Invalid,
    Listing,
    Mute,
    Quota,
    Retry,
    Status,
    Stuck,
    Subscribe,
    Subscriptions,
    Summary,
    Track,
    Tracked,
    Unmute,
    Unsubscribe,
    Untrack,
    Window,
)
from .windows import DURATION_EXAMPLES, WindowError, looks_like_window, parse_duration, parse_window
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
    "subscribe", "unsubscribe", "subscriptions", "stuck", "quota", "mute", "unmute",
    "settings", "retry", "audit", *REPORT_WORDS,
)
LIST_KEYS = ("state", "type", "asset", "script", "sort")
SUBSCRIBE_KEYS = ("type", "asset", "script", "notify", "escalate")
OUTCOMES = ("failed", "finished", "all", "stuck")
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


def parse_words(words: Sequence[str]) -> Command:
    """A command already in words: a workflow step's inputs (``["failed", "7d",
    "asset=Safety briefing"]``). Nothing is split or unquoted, so a value needs no quotes;
    the rules and the one-line refusals are the typed command's."""
    if not words:
        return Help()
    try:
        return _command(words[0].lower(), list(words[1:]))
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
        filters, rest = _split_filters(args, ("notify",), "track")
        notify = filters.get("notify")
        if notify is not None and notify.lower() != "me":
            raise _Refused(f"`notify={_shown(notify)}` is not understood; `track` takes "
                           "`notify=me` (a DM to you when each job ends).")
        return Track(_job_ids(rest, "track"), notify_me=notify is not None)
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
    if word == "stuck":
        if len(args) > 1:
            raise _Refused(f"`stuck` takes one duration, e.g. {DURATION_EXAMPLES}.")
        return Stuck(_duration(args[0]) if args else None)
    if word == "quota":
        _no_args(args, "quota")
        return Quota()
    if word == "mute":
        return _mute(args)
    if word == "unmute":
        if not args:
            return Unmute()
        if len(args) > 1 or job_ids_problem(args, "unmute"):
            raise _Refused("`unmute` lifts every mute, or one job's: `unmute JOB_ID`.")
        return Unmute(args[0])
    if word == "settings":
        return _settings(args)
    if word == "retry":
        ids = _job_ids(args, "retry")
        if len(ids) != 1:
            raise _Refused("`retry` takes one job id: `retry JOB_ID`.")
        return Retry(ids[0])
    if word == "audit":
        return Audit(_window(args, "audit"))
    if word in REPORT_WORDS:
        return parse_report(word, args)
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


def _split_filters(
    args: list[str], keys: tuple[str, ...], command: str
) -> tuple[dict[str, str], list[str]]:
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
    # README.md, "What it does": `failed` and the other state commands default to
    # today; `list` to the API's own coverage, so `list state=processing` also shows
    # last week's stuck jobs.
    default_today = bool(states)
    filters, rest = _split_filters(args, keys, command)
    _quoting_hint(args, rest)
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


def _quoting_hint(args: list[str], rest: list[str]) -> None:
    """``asset=Safety briefing``: the shell-like split left ``briefing`` over; say how to
    quote a name with spaces instead of calling it a bad window."""
    if not rest or looks_like_window(rest[0]):
        return
    index = args.index(rest[0])
    key, sep, value = args[index - 1].partition("=") if index else ("", "", "")
    if sep:
        more = list(itertools.takewhile(lambda a: not looks_like_window(a) and "=" not in a,
                                        args[index:]))
        words = " ".join([value, *more])
        raise _Refused(f"`{_shown(rest[0])}` is not understood. For a name with spaces, "
                       f'quote it: `{key.lower()}="{_shown(words)}"`.')


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


def _window(tokens: list[str], command: str) -> Window | None:
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
            f"`{_shown(' '.join(rest))}` is not an outcome; use `failed`, `finished`, `all` "
            "or `stuck`."
        )
    if rest and rest[0].lower() == "stuck" and ("asset" in filters or "script" in filters):
        raise _Refused("`subscribe stuck` takes `type=`, `notify=` and `escalate=` only.")
    if "escalate" in filters and "notify" not in filters:
        raise _Refused("`escalate=@group` pages that group when `notify=@group`'s page stays "
                       "unacknowledged: give both, e.g. `notify=@oncall escalate=@leads`.")
    return Subscribe(
        outcome=rest[0].lower() if rest else "failed",  # type: ignore[arg-type]
        job_type=_job_type(filters.get("type")),
        asset_name=_text(filters.get("asset"), "asset"),
        script_id=_text(filters.get("script"), "script"),
        notify_group=_group(filters["notify"]) if "notify" in filters else None,
        escalate_group=(_group(filters["escalate"], "escalate") if "escalate" in filters
                        else None),
    )


#: A user group as a command with ``should_escape: true`` receives it:
#: ``<!subteam^S0123ABC|@oncall>``; a bare id ``S0123ABC`` is accepted too.
_GROUP = re.compile(r"^(?:<!subteam\^([A-Z0-9]{2,32})(?:\|[^<>]*)?>|([S][A-Z0-9]{2,31}))$")


def _group(text: str, key: str = "notify") -> str:
    m = _GROUP.match(text)
    if m:
        return m[1] or m[2]
    if text.startswith("@"):
        raise _Refused(f"`{_shown(text)}` is not a user group Slack knows; type `@` and pick "
                       "the group from Slack's list, so Slack sends its id.")
    raise _Refused(f"`{key}={_shown(text)}` is not a user group; use `{key}=@group`.")


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except WindowError as e:
        raise _Refused(f"{e}.") from None


def _mute(args: list[str]) -> Mute:
    if len(args) != 2:
        raise _Refused("`mute` takes what and for how long: `mute all 2h` or "
                       "`mute JOB_ID 1d`.")
    target, duration = args
    if target.lower() == "all":
        return Mute(None, _duration(duration))
    problem = job_ids_problem((target,), "mute")
    if problem:
        raise _Refused(problem + " Or `all`.")
    return Mute(target, _duration(duration))


def _settings(args: list[str]) -> ChannelSettings:
    filters, rest = _split_filters(args, ("broadcast",), "settings")
    if rest:
        raise _Refused(f"`{_shown(rest[0])}` is not a setting; use `broadcast=on`, "
                       "`broadcast=off` or `broadcast=default`.")
    value = filters.get("broadcast")
    if value is None:
        return ChannelSettings()
    value = value.lower()
    if value not in ("on", "off", "default"):
        raise _Refused(f"`broadcast={_shown(value)}`: use `on`, `off` or `default`.")
    return ChannelSettings(value)  # type: ignore[arg-type]


def _unsubscribe(args: list[str]) -> Unsubscribe:
    if not args:
        return Unsubscribe()
    if len(args) == 1 and args[0].lower() == "stuck":
        return Unsubscribe(stuck=True)
    number = args[0].removeprefix("#") if len(args) == 1 else ""
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if number.isascii() and number.isdigit() and len(number) < 10:
        return Unsubscribe(int(number))
    raise _Refused("`unsubscribe` takes a subscription number from `/videojobs subscriptions`, "
                   "or `stuck`.")


def _shown(text: str) -> str:
    """User text quoted back in a message: short, on one line (a quoted value may hold a
    newline), and no backticks to break the code span."""
    text = " ".join(text.replace("`", "'").split()) or "(blank)"
    return text if len(text) <= 40 else text[:39] + "…"
