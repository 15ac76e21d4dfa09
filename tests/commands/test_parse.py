"""The parser: every text becomes a command, and bad input one clear line."""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.parse import parse
from bot.commands.types import (
    ChannelSettings,
    Help,
    Invalid,
    Listing,
    Mute,
    Quota,
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
from bot.metastudio.models import JobState
from bot.metastudio.query import JobQuery, QueryJobType

TODAY = Window(kind="today", text="today")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("help", Help()),
        ("/videojobs HELP", Help()),
        ("status abc-1 def_2", Status(("abc-1", "def_2"))),
        ("status a,b a", Status(("a", "b"))),
        ("failed", Listing(states=(JobState.FAILED,), window=TODAY)),
        ("Failed 7d", Listing(states=(JobState.FAILED,), window=Window("days", "7d", amount=7))),
        ("succeeded yesterday", Listing(states=(JobState.SUCCEED,),
                                        window=Window("yesterday", "yesterday"))),
        ("cancelled", Listing(states=(JobState.CANCELED,), window=TODAY)),
        ("blocked 24h",
         Listing(states=(JobState.BLOCK,), window=Window("hours", "24h", amount=24))),
        ("failed type=photo", Listing(states=(JobState.FAILED,), job_type=QueryJobType.PHOTO,
                                      window=TODAY)),
        ("list", Listing()),
        ("list state=processing", Listing(states=(JobState.PROCESSING,))),  # no default window
        (
            'list state=failed,SUCCEED type=2d asset="Quarterly update" script=s-1 sort=asc '
            "since 2026-01-31",
            Listing(
                states=(JobState.FAILED, JobState.SUCCEED),
                job_type=QueryJobType.VIDEO_2D,
                asset_name="Quarterly update",
                script_id="s-1",
                sort_dir="asc",
                window=Window("since", "since 2026-01-31", start=date(2026, 1, 31)),
            ),
        ),
        ("list asset=\u201cSmart quotes\u201d", Listing(asset_name="Smart quotes")),
        ("list asset=R&amp;D", Listing(asset_name="R&D")),  # Slack escapes & < >
        ("list asset=&lt;b&gt;&amp;lt", Listing(asset_name="<b>&lt")),  # and only those
        ("list asset=&copy;&lt", Listing(asset_name="&copy;&lt")),
        ("summary", Summary()),
        ("summary 2026-01-01..2026-01-31",
         Summary(Window("range", "2026-01-01..2026-01-31", start=date(2026, 1, 1),
                        end=date(2026, 1, 31)))),
        ("track j1 j2", Track(("j1", "j2"))),
        ("untrack j1", Untrack("j1")),
        ("tracked", Tracked()),
        ("subscribe", Subscribe()),
        ("subscribe all type=photo asset=Intro", Subscribe("all", QueryJobType.PHOTO, "Intro")),
        ("unsubscribe", Unsubscribe()),
        ("unsubscribe #3", Unsubscribe(3)),
        ("subscriptions", Subscriptions()),
    ],
)
def test_commands(text, command):
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("faild", "failed"), ("stauts", "status"), ("sumary", "summary"), ("xyzzy", None)],
)
def test_unknown_words_get_help_with_the_closest_command(text, suggestion):
    assert parse(text) == Help(unknown=text, suggestion=suggestion)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("status", "needs a job id"),
        ("status bad/id", "is not a job id"),
        ("status " + "x" * 65, "is not a job id"),
        ("status " + " ".join(f"j{i}" for i in range(21)), "at most 20"),
        ("untrack a b", "one job id"),
        ("list foo=bar", "`foo=bar` is not a filter of `list`"),
        ("failed state=succeeded", "is not a filter of `failed`"),
        ("list state=done", "`done` is not a state"),
        ("list type=3d", "`type=3d` is not a job type"),
        ("list sort=sideways", "is not a sort order"),
        ("list state=failed state=waiting", "given twice"),
        ("list asset=", "needs a value"),
        ("failed tomorrow", "`tomorrow` is not understood by `failed`"),
        ("failed 0h", "out of range"),
        ("failed 2026-02-30..2026-03-01", "is not a date"),
        ("failed since 2026W011", "is not a date"),
        ("failed since 20260131", "is not a date"),
        ("failed 2026-03-02..2026-03-01", "ends before it starts"),
        ("failed since", "is not a time window"),
        ('list asset="unclosed', "quote is not closed"),
        ("subscribe sometimes", "is not an outcome"),
        ("unsubscribe all", "subscription number"),
        ("tracked extra", "takes no arguments"),
        ("status " + "a" * 2000, "too long"),
        ("track " + " ".join(f"j{i}" for i in range(51)), "at most 50"),
        ("track a notify=you", "`notify=me`"),
        ("subscribe notify=@oncall", "pick the group from Slack's list"),
        ("subscribe notify=everyone", "is not a user group"),
        ("stuck soon", "is not a duration"),
        ("stuck 30s", "is not a duration"),
        ("stuck 0m", "out of range"),
        ("stuck 2h 3h", "one duration"),
        ("quota now", "takes no arguments"),
        ("mute 2h", "what and for how long"),
        ("mute bad/id 2h", "is not a job id"),
        ("mute all forever", "is not a duration"),
        ("settings broadcast=maybe", "use `on`, `off` or `default`"),
        ("settings loud", "is not a setting"),
        ("subscribe stuck asset=x", "takes `type=`, `notify=` and `escalate=` only"),
        ("list asset=Safety briefing", 'quote it: `asset="Safety briefing"`'),
        ("failed script=My script 7d", 'quote it: `script="My script"`'),
    ],
)
def test_bad_input_gets_one_line_saying_what_is_wrong(text, says):
    command = parse(text)
    assert isinstance(command, Invalid)
    assert says in command.message
    assert "\n" not in command.message


def to_query(command) -> JobQuery | None:
    """What the router would send upstream for a listing (windows aside)."""
    if not isinstance(command, Listing):
        return None
    return JobQuery(states=command.states, job_type=command.job_type,
                    asset_name=command.asset_name, script_id=command.script_id,
                    sort_dir=command.sort_dir)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_without_raising(text):
    parse(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(
    ["list", "failed", "asset=a&limit=500", "script=x&job_ids=1", "state=failed", "type=photo",
     "sort=asc", "offset=5", "limit=100", "job_id=x", "today", "7d", '"', "=", "&", "%26"]),
    max_size=8))
def test_no_text_adds_or_changes_an_upstream_parameter(words):
    query = to_query(parse(" ".join(words)))
    if query is None:
        return
    names = [name for name, _ in query.to_params()]
    assert set(names) <= {"offset", "limit", "state", "job_type", "asset_name", "script_id",
                          "sort_dir"}
    assert dict(query.to_params())["limit"] == "10" and dict(query.to_params())["offset"] == "0"


@pytest.mark.parametrize(
    ("text", "asset"),
    [("list asset=Ana's", "Ana's"), ("list asset=\u201cAna's intro\u201d", "Ana's intro"),
     ("list asset=Ana\u2019s", "Ana\u2019s"),  # a phone's apostrophe is kept as typed
     ('list asset="C:\\clips"', "C:\\clips")],
)
def test_apostrophes_and_backslashes_are_part_of_a_name(text, asset):
    assert parse(text).asset_name == asset


@pytest.mark.parametrize("text", ["unsubscribe ²", "unsubscribe #٣", "status a\\b"])
def test_look_alike_digits_and_escapes_are_refused_not_crashed_on(text):
    assert isinstance(parse(text), Invalid)


COMMAND_WORDS = ["status", "failed", "list", "summary", "track", "untrack", "subscribe",
                 "unsubscribe", "tracked", "subscriptions", "processing", "stuck", "quota",
                 "mute", "unmute", "settings"]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(COMMAND_WORDS), st.lists(st.text(max_size=20), max_size=4))
def test_every_command_survives_any_arguments(word, args):
    command = parse(" ".join([word, *args]))
    if isinstance(command, Invalid):
        assert "\n" not in command.message


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["asset", "script"]), st.text(min_size=1, max_size=300))
def test_a_free_text_value_the_parser_accepts_is_one_jobquery_accepts(key, value):
    quoted = "".join(c for c in value if c not in '"\u201c\u201d\u201e')  # quotes group
    # What Slack sends for the typed value: &, < and > escaped.
    sent = quoted.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    command = parse(f'list {key}="{sent}"')
    if isinstance(command, Listing):
        params = dict(to_query(command).to_params())
        assert params[f"{key}_name" if key == "asset" else "script_id"] == quoted


def test_a_quoted_newline_is_echoed_on_one_line():
    command = parse('status "job\nid"')
    assert command == Invalid("`job id` is not a job id: use letters, digits, `-` and `_`, "
                              "at most 64.")


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("track a b notify=me", Track(("a", "b"), notify_me=True)),
        ("track a NOTIFY=Me", Track(("a",), notify_me=True)),
        ("subscribe failed notify=<!subteam^S0ONCALL|@oncall>",
         Subscribe("failed", notify_group="S0ONCALL")),
        ("subscribe notify=<!subteam^S0ONCALL>", Subscribe("failed", notify_group="S0ONCALL")),
        ("subscribe all notify=S0ONCALL", Subscribe("all", notify_group="S0ONCALL")),
        ("stuck", Stuck()),
        ("stuck 90m", Stuck(5400)),
        ("stuck 1h30m", Stuck(5400)),
        ("stuck 2d", Stuck(172800)),
        ("quota", Quota()),
        ("mute all 2h", Mute(None, 7200)),
        ("mute job-1 1d", Mute("job-1", 86400)),
        ("unmute", Unmute()),
        ("unmute job-1", Unmute("job-1")),
        ("settings", ChannelSettings()),
        ("settings broadcast=OFF", ChannelSettings("off")),
        ("subscribe stuck type=photo", Subscribe("stuck", job_type=QueryJobType.PHOTO)),
        ("unsubscribe stuck", Unsubscribe(stuck=True)),
    ],
)
def test_on_call_commands(text, command):
    assert parse(text) == command


def test_an_escaped_group_mention_arrives_as_slack_sends_it():
    # should_escape: true sends the group as a token; Slack escapes a typed < as &lt;.
    assert parse("subscribe notify=&lt;!subteam^S1|@x&gt;") == Subscribe(
        "failed", notify_group="S1")
