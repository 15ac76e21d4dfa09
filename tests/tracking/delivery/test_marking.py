"""Markers (bot/tracking/delivery/marking.py): a messenger that can mark its posts is used
as it is, a plain one is wrapped; the wrapper posts and edits everything but the marker
and finds nothing marked."""

from __future__ import annotations

from typing import Any

from bot.serve.demo import ConsoleMessenger
from bot.slack.messenger import SlackMessenger
from bot.tracking.delivery.marking import MarkedMessenger, UnmarkedMessenger, as_marked
from tests.fakes.slack import FakeSlack
from tests.fixtures.tracking import T0


def _section_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_a_plain_messenger_is_wrapped_and_a_marking_one_used_as_it_is(
    fake_slack: FakeSlack, messenger: SlackMessenger,
) -> None:
    assert as_marked(messenger) is messenger
    plain = ConsoleMessenger.__new__(ConsoleMessenger)
    wrapped = as_marked(plain)
    assert isinstance(wrapped, UnmarkedMessenger) and wrapped.inner is plain
    assert isinstance(wrapped, MarkedMessenger)


def test_an_unmarked_messenger_posts_everything_but_the_marker_and_finds_nothing(
    fake_slack: FakeSlack, messenger: SlackMessenger,
) -> None:
    unmarked = UnmarkedMessenger(messenger)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "body"}}]
    top = unmarked.post("C1", text="hello", blocks=blocks, marker="sub:C1:j1:FAILED")
    reply = unmarked.post("C1", text="reply", thread_ts=top, reply_broadcast=True)
    plain = unmarked.post("C1", text="plain")
    quiet = unmarked.post("C1", text="quiet", thread_ts=top)
    first, second, third, fourth = fake_slack.posts("C1")
    assert (first.ts, first.text, first.blocks, first.thread_ts, first.metadata) == (
        top, "hello", blocks, None, None)
    assert (second.ts, second.thread_ts, second.reply_broadcast) == (reply, top, True)
    assert (third.ts, third.reply_broadcast, third.blocks) == (plain, False, None)
    assert (fourth.ts, fourth.thread_ts, fourth.reply_broadcast) == (quiet, top, False)
    edited = [_section_block("new body")]
    unmarked.update("C1", top, text="edited", blocks=edited)
    unmarked.update("C1", plain, text="edited too")
    assert (fake_slack.posts("C1")[0].text, fake_slack.posts("C1")[0].blocks) == (
        "edited", edited)
    assert fake_slack.posts("C1")[2].text == "edited too"
    assert unmarked.marked("C1") == {}
    assert unmarked.marked("C1", thread_ts=top, oldest=T0) == {}
