from bot.domain.stats import ErrorGroup
from bot.views import actions
from bot.views.listings import listing_reply
from tests.views.jobs import (
    BERLIN,
    FAILED,
    PINGING,
    SUCCEEDED_2D,
    SURPRISING,
    assert_within_slack_limits,
    blocks_of,
    buttons_of,
    everything,
    job,
    texts,
)

TITLE = "❌ 7 failed jobs · today (Europe/Berlin)"
GROUPS = [ErrorGroup("MSS.00000001", "Bad script", 1),
          ErrorGroup("MSS.00000004", "Internal Error", 3),
          ErrorGroup(None, None, 2)]


def failed_jobs(n: int):
    return [job(FAILED, job_id=f"job-{i:04d}") for i in range(n)]


def test_a_failed_listing_puts_the_triage_summary_on_top_sorted_by_count():
    reply = listing_reply(TITLE, failed_jobs(6), 6, BERLIN, error_groups=GROUPS)
    blocks = blocks_of(reply)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": TITLE,
                                                     "emoji": True}}
    groups = [b["text"]["text"].split("\n")[0] for b in blocks[1:5]]
    assert groups == ["*By error code*", "3× `MSS.00000004` Internal Error",
                      "2× _no error code_", "1× `MSS.00000001` Bad script"]


def test_only_the_top_error_codes_are_listed():
    groups = [ErrorGroup(f"MSS.{i:08d}", "x" * 300, i) for i in range(1, 21)]
    blocks = blocks_of(listing_reply(TITLE, failed_jobs(1), 1, BERLIN, error_groups=groups))
    lines = [b["text"]["text"] if b["type"] == "section" else b["elements"][0]["text"]
             for b in blocks[1:18]]
    assert lines[1].startswith("20× `MSS.00000020`")
    assert lines[15:] == ["6× `MSS.00000006` " + "x" * 79 + "…", "_and 5 more error codes_"]


def test_a_capped_triage_summary_says_so():
    reply = listing_reply(TITLE, failed_jobs(2), 900, BERLIN, error_groups=GROUPS,
                          groups_capped=True)
    assert "newest failures only" in everything(reply)


def test_one_compact_row_per_job():
    reply = listing_reply("jobs", [job(FAILED), job(SUCCEEDED_2D), job(SURPRISING)], 3, BERLIN)
    rows = blocks_of(reply)[1]["text"]["text"].splitlines()
    assert rows == [
        "❌ `job-failed` · Launch teaser · 2D avatar video · created 2026-01-05 09:00 CET · "
        "ended 2026-01-05 09:01 CET · `MSS.00000004`",
        "✅ `job-2d-ok` · One Day · 2D avatar video · created 2026-01-05 09:00 CET · "
        "ended 2026-01-05 09:01 CET · ran 1 min 5 s",
        "❔ ARCHIVED `job-odd` · _no asset_ · 3D_HOLOGRAM_VIDEO · created —",
    ]
    assert reply.text == "jobs: jobs 1 to 3 of 3"


def test_show_more_only_while_more_remain():
    first = listing_reply(TITLE, failed_jobs(20), 25, BERLIN, more_value="M", post_value="P")
    assert buttons_of(first) == {actions.SHOW_MORE: "M", actions.POST_TO_CHANNEL: "P"}
    assert "Jobs 1 to 20 of 25" in everything(first)
    last = listing_reply(TITLE, failed_jobs(5), 25, BERLIN, offset=20, more_value="M",
                         post_value="P")
    assert buttons_of(last) == {actions.POST_TO_CHANNEL: "P"}
    assert "Jobs 21 to 25 of 25" in everything(last)


def test_five_hundred_jobs_stay_within_slack_limits():
    many_groups = [ErrorGroup(f"MSS.{i:08d}", "x" * 300, i) for i in range(200)]
    reply = listing_reply(TITLE, failed_jobs(500), 5000, BERLIN, error_groups=many_groups,
                          more_value="M", post_value="P")
    assert_within_slack_limits(reply)
    assert actions.SHOW_MORE in buttons_of(reply)


def test_rows_that_do_not_fit_are_announced_not_silently_dropped():
    long_assets = [job(FAILED, job_id="j" * 64 + f"{i}",
                       output_asset_config={"asset_name": "a" * 200}) for i in range(2000)]
    reply = listing_reply(TITLE, long_assets, 2000, BERLIN, post_value="P")
    assert_within_slack_limits(reply)
    assert "some rows left out" in everything(reply)


def test_nothing_failed_is_good_news():
    reply = listing_reply("❌ 0 failed jobs · today", [], 0, BERLIN, error_groups=[],
                          post_value="P")
    assert [b["type"] for b in blocks_of(reply)] == ["header", "section", "actions"]
    assert blocks_of(reply)[1]["text"]["text"] == "No failed jobs in this window 🎉"


def test_an_empty_listing_of_another_state_and_an_empty_later_page():
    assert "No jobs match" in everything(listing_reply("⏳ waiting", [], 0, BERLIN))
    assert "No more jobs." in everything(listing_reply("⏳ waiting", [], 20, BERLIN, offset=20))


def test_asset_names_and_error_messages_are_escaped():
    groups = [ErrorGroup("MSS.1", "bad <!here> input", 1)]
    reply = listing_reply(TITLE, [job(PINGING)], 1, BERLIN, error_groups=groups)
    assert not any("<!" in text or "<@" in text for text in texts(reply))
