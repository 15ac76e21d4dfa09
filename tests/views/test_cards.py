import pytest

from bot.domain.reply import Reply
from bot.views import actions
from bot.views.cards import job_card, status_reply
from tests.views.jobs import (
    BERLIN,
    BLOCKED,
    CANCELED,
    COVER,
    FAILED,
    NEW_YORK,
    PINGING,
    PREVIEW,
    PROCESSING,
    SHANGHAI,
    SUCCEEDED_2D,
    SUCCEEDED_PHOTO,
    SURPRISING,
    WAITING,
    assert_within_slack_limits,
    buttons_of,
    everything,
    job,
    texts,
)


def card(payload, tz=BERLIN) -> Reply:
    return Reply(text="card", blocks=job_card(job(payload), tz))


@pytest.mark.parametrize(("payload", "label"), [
    (SUCCEEDED_2D, "✅ Succeeded"), (FAILED, "❌ Failed"), (WAITING, "⏳ Waiting"),
    (PROCESSING, "⚙️ Processing"), (CANCELED, "🚫 Canceled"), (BLOCKED, "🧊 Blocked"),
    (SURPRISING, "❔ ARCHIVED"),
])
def test_a_card_leads_with_the_state_and_the_job_id(payload, label):
    head = card(payload).blocks[0].to_dict()["text"]["text"].splitlines()[0]
    assert head == f"*{label}* · `{payload['job_id']}`"


def test_a_card_shows_type_asset_times_and_durations():
    text = everything(card(SUCCEEDED_2D))
    assert "2D avatar video · *One Day*" in text
    for field in ("*Created*\\n2026-01-05 09:00 CET", "*Started*\\n2026-01-05 09:00 CET",
                  "*Ended*\\n2026-01-05 09:01 CET", "*Run time*\\n1 min 5 s",
                  "*Video length*\\n1 min"):
        assert field in text


def test_an_unknown_job_type_is_shown_as_it_is_and_missing_times_are_left_out():
    text = everything(card(SURPRISING))
    assert "3D_HOLOGRAM_VIDEO" in text
    assert "*Created*" in text  # always, even when upstream left it out
    assert "*Ended*" not in text and "*Video length*" not in text


def test_the_same_job_reads_in_the_users_timezone():
    assert "2026-01-05 16:00 CST" in everything(card(SUCCEEDED_2D, SHANGHAI))
    assert "2026-01-05 03:00 EST" in everything(card(SUCCEEDED_2D, NEW_YORK))


def test_a_failed_card_shows_the_error_code_and_message():
    assert "*Error:* `MSS.00000004` Internal Error" in everything(card(FAILED))


def test_a_failed_job_without_error_info_says_so():
    assert "`no error code` no error message" in everything(card({**FAILED, "error_info": None}))


def test_photo_jobs_link_their_preview_and_say_it_expires():
    text = everything(card(SUCCEEDED_PHOTO))
    assert f"<{PREVIEW}|▶️ Preview video> (link valid for 24 h)" in text


def test_2d_jobs_have_no_preview_link():
    with_url = {**SUCCEEDED_2D, "output_asset_config": {"preview_video_url": PREVIEW}}
    assert PREVIEW not in everything(card(with_url))


def test_the_cover_is_a_thumbnail_with_alt_text():
    accessory = card(SUCCEEDED_2D).blocks[0].to_dict()["accessory"]
    assert accessory == {"type": "image", "image_url": COVER, "alt_text": "cover of One Day"}


def test_no_cover_no_thumbnail():
    assert "accessory" not in card(PROCESSING).blocks[0].to_dict()


def test_unfinished_jobs_offer_track_notify_me_and_refresh():
    assert buttons_of(card(PROCESSING)) == {actions.TRACK: "job-running",
                                            actions.NOTIFY_ME: "job-running",
                                            actions.REFRESH: "job-running"}


def test_finished_and_unknown_state_jobs():
    assert buttons_of(card(SUCCEEDED_2D)) == {actions.REFRESH: "job-2d-ok"}
    # An unknown state is not a known end: the poller keeps watching it, so it can be tracked.
    assert actions.TRACK in buttons_of(card(SURPRISING))


def test_a_mention_in_upstream_text_pings_no_one():
    reply = status_reply([job(PINGING)], ["<!everyone>"], BERLIN, post_value=None)
    for text in texts(reply):
        assert "<!" not in text and "<@" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in everything(reply)
    # alt_text is plain text: shown as it is, never parsed for mentions.
    assert reply.blocks[0].to_dict()["accessory"]["alt_text"] == "cover of <!channel> & <@U123>"


def test_status_stacks_cards_with_dividers_and_names_missing_ids():
    reply = status_reply([job(SUCCEEDED_2D), job(FAILED)], ["nope"], BERLIN, post_value="P")
    kinds = [b.to_dict()["type"] for b in reply.blocks]
    assert kinds == ["section", "actions", "divider", "section", "actions", "section", "actions"]
    assert reply.blocks[5].to_dict()["text"]["text"] == "No job `nope` found."
    assert buttons_of(Reply(text="", blocks=reply.blocks[-1:])) == {actions.POST_TO_CHANNEL: "P"}
    assert reply.text == "Status: `job-2d-ok` ✅ Succeeded, `job-failed` ❌ Failed, no job `nope`"


def test_status_of_only_unknown_ids_is_not_an_error():
    reply = status_reply([], ["a", "b"], BERLIN, post_value=None)
    assert [b.to_dict()["text"]["text"] for b in reply.blocks] == [
        "No job `a` found.\nNo job `b` found."]


def test_status_of_many_jobs_stays_within_50_blocks_and_says_how_many_were_left_out():
    jobs = [job(PROCESSING, job_id=f"job-{i}") for i in range(30)]
    reply = status_reply(jobs, ["gone"], BERLIN, post_value="P")
    assert_within_slack_limits(reply)
    assert "14 more jobs left out" in everything(reply)
    assert buttons_of(Reply(text="", blocks=reply.blocks[-1:])) == {actions.POST_TO_CHANNEL: "P"}


def test_every_card_of_a_status_refreshes_the_whole_message():
    reply = status_reply([job(PROCESSING, job_id="job-a"), job(PROCESSING, job_id="job-b")], [],
                         BERLIN, post_value=None)
    refresh_values = [element["value"] for block in reply.to_payload()["blocks"]
                      if block["type"] == "actions" for element in block["elements"]
                      if element["action_id"] == actions.REFRESH]
    assert refresh_values == ["job-a job-b", "job-a job-b"]
