from bot.domain.stats import ErrorGroup, SummaryStats
from bot.views import actions
from bot.views.summary import summary_reply
from tests.views.jobs import blocks_of, buttons_of, everything

COUNTS = {"SUCCEED": 12, "FAILED": 3, "WAITING": 1, "PROCESSING": 2, "CANCELED": 1,
          "BLOCK": 0, "ARCHIVED": 4}
STATS = SummaryStats(
    window_label="7d (Europe/Berlin)",
    counts=COUNTS,
    failure_rate=3 / 16,
    top_errors=[ErrorGroup("MSS.1", "Bad script", 1), ErrorGroup("MSS.4", "Internal", 2)],
    mean_succeeded_seconds=125,
)


def test_summary_counts_every_state_including_unknown_ones():
    counts = blocks_of(summary_reply(STATS, post_value=None))[1]["text"]["text"]
    assert counts.splitlines() == [
        "*23 jobs*", "✅ Succeeded: *12*", "❌ Failed: *3*", "🚫 Canceled: *1*",
        "🧊 Blocked: *0*", "⚙️ Processing: *2*", "⏳ Waiting: *1*", "❔ ARCHIVED: *4*"]


def test_summary_numbers():
    reply = summary_reply(STATS, post_value="P")
    assert blocks_of(reply)[0]["text"]["text"] == "📊 Summary · 7d (Europe/Berlin)"
    assert blocks_of(reply)[2]["text"]["text"] == (
        "*Failure rate:* 18.8% (3 of 16 finished)\n"
        "*Mean run time of succeeded jobs:* 2 min 5 s")
    assert blocks_of(reply)[3]["text"]["text"] == (
        "*Top errors*\n2× `MSS.4` Internal\n1× `MSS.1` Bad script")
    assert buttons_of(reply) == {actions.POST_TO_CHANNEL: "P"}
    assert reply.text == ("Summary · 7d (Europe/Berlin): 23 jobs, failure rate 18.8% "
                          "(3 of 16 finished), mean run time 2 min 5 s")


def test_nothing_finished_has_no_failure_rate_and_a_sample_is_named():
    quiet = SummaryStats("today", {"WAITING": 2}, None, [], None, sampled=100)
    text = everything(summary_reply(quiet, post_value=None))
    assert "*Failure rate:* — (nothing finished)" in text
    assert "*Mean run time of succeeded jobs:* —" in text
    assert "sample of the newest 100 jobs" in text
    assert "Top errors" not in text
