import re
from pathlib import Path

import pytest

from bot.views.help import USAGE_HINT, help_reply, invalid_reply, notice_reply
from tests.views.jobs import assert_within_slack_limits, blocks_of, everything, texts

COMMANDS = ["help", "status", "failed", "waiting", "processing", "succeeded", "canceled",
            "blocked", "list", "summary", "track", "untrack", "tracked", "subscribe",
            "unsubscribe", "subscriptions"]
WINDOWS = ["today", "yesterday", "24h", "7d", "Nh", "Nd", "since YYYY-MM-DD",
           "YYYY-MM-DD..YYYY-MM-DD"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_every_command(command):
    assert re.search(rf"/videojobs [^`]*\b{command}\b", everything(help_reply()))


@pytest.mark.parametrize("window", WINDOWS)
def test_help_shows_every_window_form(window):
    assert f"`{window}`" in everything(help_reply())


def test_help_gives_examples_and_fits_slack():
    reply = help_reply()
    assert "`/videojobs subscribe failed notify=@oncall escalate=@leads`" in everything(reply)
    assert_within_slack_limits(reply)


def test_an_unknown_word_comes_first_with_the_closest_command():
    reply = help_reply(unknown="faild", suggestion="failed")
    assert blocks_of(reply)[0]["text"]["text"] == "`faild` is not a command. Did you mean `failed`?"
    assert reply.text.startswith("`faild` is not a command. Did you mean `failed`?")


def test_an_unknown_word_without_a_suggestion():
    reply = help_reply(unknown="<!channel>`x")
    assert blocks_of(reply)[0]["text"]["text"] == (
        "`&lt;!channel&gt;x` is not a command. `/videojobs help` lists them.")
    assert not any("<!" in text for text in texts(reply))


def test_the_manifest_usage_hint_is_the_one_the_bot_knows():
    manifest = (Path(__file__).parents[2] / "manifest.yaml").read_text()
    assert f'usage_hint: "{USAGE_HINT}"' in manifest


def test_bad_input_is_one_line_with_a_pointer_to_help():
    reply = invalid_reply("Unknown state `done`: use waiting, processing, succeeded.")
    assert reply.response_type == "ephemeral"
    assert reply.text == ("⚠️ Unknown state `done`: use waiting, processing, succeeded. "
                          "Try `/videojobs help`.")
    assert len(reply.blocks) == 1


def test_a_notice_is_a_plain_line():
    reply = notice_reply("Tracking is not enabled in this workspace.")
    assert reply.text == "Tracking is not enabled in this workspace."
    assert blocks_of(reply)[0]["text"]["text"] == reply.text
