"""The console demo prints every reply through render_text."""

from bot.domain.reply import Reply
from bot.domain.stats import ErrorGroup, SummaryStats
from bot.metastudio.errors import NotFoundError
from bot.views.cards import status_reply
from bot.views.errors import upstream_error_reply
from bot.views.help import help_reply, notice_reply
from bot.views.listings import listing_reply
from bot.views.summary import summary_reply
from bot.views.text import mrkdwn_to_text, render_text
from tests.views.jobs import (
    BERLIN,
    COVER,
    FAILED,
    PINGING,
    PREVIEW,
    PROCESSING,
    SUCCEEDED_PHOTO,
    job,
)


def test_a_status_card_as_text():
    reply = status_reply([job(SUCCEEDED_PHOTO), job(PROCESSING)], ["gone"], BERLIN,
                         post_value="P")
    assert render_text(reply).splitlines() == [
        "*✅ Succeeded* · `job-photo-ok`",
        "Photo avatar video · *Portrait*",
        f"▶️ Preview video ({PREVIEW}) (link valid for 24 h)",
        "*Created* 2026-01-05 09:00 CET",
        "*Started* 2026-01-05 09:00 CET",
        "*Ended* 2026-01-05 09:01 CET",
        "*Run time* 1 min 5 s",
        "*Video length* 1 min",
        f"[cover: {COVER}]",
        "[Refresh]",
        "─" * 40,
        "*⚙️ Processing* · `job-running`",
        "2D avatar video · _no asset name_",
        "*Created* 2026-01-05 09:00 CET",
        "*Started* 2026-01-05 09:00 CET",
        "[Track] [Notify me] [Refresh]",
        "No job `gone` found.",
        "[Post to channel]",
    ]


def test_a_listing_as_text_shows_header_rows_and_buttons():
    reply = listing_reply("❌ 2 failed jobs · today", [job(FAILED), job(PINGING)], 30, BERLIN,
                          error_groups=[ErrorGroup("MSS.1", "bad", 2)], more_value="M",
                          post_value="P")
    lines = render_text(reply).splitlines()
    assert lines[:4] == ["❌ 2 failed jobs · today", "=" * 23, "*By error code*", "2× `MSS.1` bad"]
    assert "❌ `job-ping` · <!channel> & <@U123> · 2D avatar video" in lines[5]
    assert lines[-2:] == ["Jobs 1 to 2 of 30", "[Show more] [Post to channel]"]


def test_summary_error_help_and_notice_as_text():
    summary = render_text(summary_reply(SummaryStats("today", {"FAILED": 1}, 1.0, [], None),
                                        post_value="P"))
    assert "❌ Failed: *1*" in summary and summary.endswith("[Post to channel]")
    error = render_text(upstream_error_reply(
        NotFoundError("x", status=404, request_id="r1"), doing="list jobs"))
    assert error.splitlines()[0] == "⚠️ Couldn't list jobs: MetaStudio answered HTTP 404 · " \
                                    "request id r1."
    assert "`/videojobs status ID [ID …]`" in render_text(help_reply())
    assert render_text(notice_reply("Tracking is off.")) == "Tracking is off."


def test_a_reply_without_blocks_renders_its_text():
    assert render_text(Reply(text="Tracking <https://x/y|3 jobs> &amp; more")) == \
        "Tracking 3 jobs (https://x/y) & more"


def test_plain_dict_blocks_of_any_type():
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Hi"}},
        {"type": "image", "image_url": "https://x/c.png", "alt_text": "cover of A"},
        {"type": "context", "elements": [
            {"type": "image", "image_url": "https://x/i.png", "alt_text": "icon"},
            {"type": "mrkdwn", "text": "done <!date^1700000000^{date}|Nov 14>"}]},
        {"type": "actions", "elements": [
            {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick"}}]},
        {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
            {"type": "text", "text": "rich words"}]}]},
    ]
    assert render_text(Reply(text="fallback", blocks=blocks)).splitlines() == [
        "Hi", "==", "[cover: https://x/c.png]",
        "[cover: https://x/i.png] done Nov 14", "[Pick]", "rich words"]


def test_mrkdwn_tokens_become_readable():
    assert mrkdwn_to_text("<@U1> in <#C1|ops> <!here> <https://a|b> <https://c>") == \
        "@U1 in #ops @here b (https://a) https://c"
    assert mrkdwn_to_text("&lt;!channel&gt;") == "<!channel>"
