"""Tracking's Block Kit, word for word: the stuck announcement, a tracked job's line and
the channel's settings (pure functions of their arguments: no Slack, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.records import ChannelNoise, Subscription, TrackedJob
from bot.metastudio.models import Job
from bot.views.hints import next_step
from bot.views.notifications import (
    Message,
    digest_details,
    digest_summary,
    notification,
    outcome,
    settings_reply,
    stuck_announcement,
    subscription_line,
    tracked_line,
    tracking_message,
)

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _texts(message: Message) -> list[Any]:
    return [block.to_dict() for block in message.blocks]


def _stuck(job_id: str, state: str, asset: str | None, phase: str, age: float,
           line: float) -> dict[str, Any]:
    job = Job.model_validate({"job_id": job_id, "state": state,
                              **({"output_asset_config": {"asset_name": asset}} if asset else {})})
    return {"job": job.model_dump(mode="json"), "phase": phase, "age": age, "line": line}


FOOT = {"type": "context", "elements": [{
    "type": "mrkdwn",
    "text": "I say again here when each one ends. `/videojobs unsubscribe stuck` stops this."}]}


def test_a_stuck_announcement_names_each_job_its_wait_and_its_line() -> None:
    message = stuck_announcement({"stuck_jobs": [
        _stuck("job-1", "WAITING", "intro <v2>", "waiting", 3 * 3600 + 5 * 60, 3600),
        _stuck("job-2", "PROCESSING", None, "running", 50 * 60, 30 * 60),
    ]})
    assert message.text == "🐢 2 jobs are stuck"
    assert _texts(message) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*🐢 2 jobs are stuck*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text":
            "⏳ `job-1` intro &lt;v2&gt; · *waiting 3 h 5 min* (line 1 h)\n"
            "⚙️ `job-2` · *running 50 min* (line 30 min)"}},
        FOOT,
    ]


def test_one_stuck_job_and_more_than_are_named_with_the_on_call_group() -> None:
    one = stuck_announcement({"stuck_jobs": [
        _stuck("job-1", "WAITING", None, "waiting", 7200, 3600)], "mention_group": "S0ONCALL"})
    assert one.text == "<!subteam^S0ONCALL> 🐢 1 job is stuck"
    assert _texts(one)[0]["text"]["text"] == "<!subteam^S0ONCALL> *🐢 1 job is stuck*"

    more = stuck_announcement({"stuck_jobs": [
        _stuck("job-1", "WAITING", None, "waiting", 7200, 3600)], "stuck_more": 4,
        "mention_group": None})
    assert more.text == "🐢 5 jobs are stuck"
    assert _texts(more)[1]["text"]["text"] == (
        "⏳ `job-1` · *waiting 2 h* (line 1 h)\n_and 4 more: `/videojobs stuck` lists them_")
    assert _texts(more)[2] == FOOT


def _tracked(state: str | None, paused: str | None = None) -> TrackedJob:
    return TrackedJob(id=1, channel="C1", job_id="job-7", message_ts="1.0", requested_by="U1",
                      last_state=state, job_created_at=None, created_at=NOW,
                      paused_reason=paused, closed=False)


@pytest.mark.parametrize(("state", "paused", "line"), [
    ("FAILED", None, "❌ `job-7` Failed"),
    ("PROCESSING", "the bot was removed from the channel",
     "⚙️ `job-7` Processing ⏸️ paused: the bot was removed from the channel"),
    (None, None, "❔ `job-7` Unknown"),
])
def test_a_tracked_jobs_line(state: str | None, paused: str | None, line: str) -> None:
    assert tracked_line(_tracked(state, paused)) == line


def test_settings_say_where_each_setting_comes_from_and_list_mutes_in_order() -> None:
    default = settings_reply(ChannelNoise(broadcast_failures=None, muted_until=None,
                                          muted_jobs={}),
                             default_broadcast=True, changed=False)
    assert default.text == "Settings of this channel"
    assert _texts(default)[1]["text"]["text"] == (
        "*Failures broadcast to the channel:* on (the bot's default)")

    muted = settings_reply(
        ChannelNoise(broadcast_failures=False, muted_until=datetime(2026, 12, 1, 11, 0),
                     muted_jobs={"job-b": datetime(2026, 12, 2, 8, 5),
                                 "job-a": datetime(2026, 12, 1, 23, 59)}),
        default_broadcast=True, changed=True)
    assert muted.text == "Settings saved"
    assert _texts(muted)[1]["text"]["text"] == "\n".join([
        "*Failures broadcast to the channel:* off (set for this channel)",
        "🔕 All subscription announcements muted until 2026-12-01 11:00 UTC",
        "🔕 `job-a` muted until 2026-12-01 23:59 UTC",
        "🔕 `job-b` muted until 2026-12-02 08:05 UTC",
    ])
    assert _texts(settings_reply(ChannelNoise(broadcast_failures=None, muted_until=None,
                                              muted_jobs={}),
                                 default_broadcast=False, changed=False))[1]["text"]["text"] == (
        "*Failures broadcast to the channel:* off (the bot's default)")


SUCCEEDED = {"job_id": "job-9", "state": "SUCCEED", "output_asset_config": {
    "asset_name": "intro", "cover_url": "https://obs.example/cover.png"}}


def test_a_stuck_job_that_ends_links_its_cover_and_says_it_was_stuck() -> None:
    message = notification({"job": SUCCEEDED, "stuck_since": "2026-12-01T06:00:00+00:00",
                            "requested_by": "U1"})
    assert message.text == "✅ `job-9` succeeded (was stuck)"
    blocks = _texts(message)
    assert [b["type"] for b in blocks] == ["section", "context"]  # no image block
    assert "<https://obs.example/cover.png|Cover image>" in blocks[0]["text"]["text"]
    assert blocks[1]["elements"][0]["text"] == "Announced as stuck earlier; it has ended now."


def test_digest_details_link_covers_instead_of_showing_them() -> None:
    message = digest_details([Job.model_validate(SUCCEEDED), Job.model_validate(
        {"job_id": "job-10", "state": "FAILED", "error_info": {"error_code": "MSS.0001"}})])
    assert message.text == "Details of 2 jobs"
    blocks = _texts(message)
    assert [b["type"] for b in blocks] == ["section", "section"]
    assert "<https://obs.example/cover.png|Cover image>" in blocks[0]["text"]["text"]


def test_a_digest_warns_of_low_minutes_only_when_some_jobs_failed() -> None:
    low_minutes = "⚠️ 4 % of the video minutes are left"
    succeeded = Job.model_validate(SUCCEEDED)
    failed = Job.model_validate({"job_id": "job-10", "state": "FAILED"})
    calm = digest_summary([succeeded, succeeded], quota_warning=low_minutes)
    assert calm.text == "2 jobs finished: 2 ✅"
    assert _texts(calm) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*2 jobs finished: 2 ✅*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Details in the thread."}]},
    ]
    warned = digest_summary([failed, succeeded, failed], quota_warning=low_minutes)
    assert warned.text == "3 jobs finished: 2 ❌ 1 ✅"
    assert _texts(warned)[1] == {"type": "section",
                                 "text": {"type": "mrkdwn", "text": low_minutes}}


def test_a_paused_subscriptions_line_keeps_its_filters_and_says_why() -> None:
    sub = Subscription(id=4, channel="C1", outcome="failed", job_type="2D", asset_name=None,
                       script_id="s-1", created_by="U1", created_at=NOW,
                       paused_reason="the bot was removed from the channel", swept_at=None)
    assert subscription_line(sub, "S0ONCALL") == (
        "#4 failed (type=2D, script=s-1), by <@U1>, pages <!subteam^S0ONCALL> on failures"
        " ⏸️ paused: the bot was removed from the channel")


# -- a job's end ---------------------------------------------------------------------------


def _job(**fields: Any) -> Job:
    return Job.model_validate({"job_id": "job-9", **fields})


def _section(message: Message) -> str:
    return str(_texts(message)[0]["text"]["text"])


def test_a_success_shows_asset_length_run_time_preview_and_cover() -> None:
    job = _job(state="SUCCEED", duration=42, start_time="2026-12-01T09:00:00Z",
               end_time="2026-12-01T09:03:05Z", output_asset_config={
                   "asset_name": "intro", "cover_url": "https://obs.example/c.png",
                   "preview_video_url": "https://obs.example/p.mp4"})
    message = outcome(job, requested_by="U1")
    assert message.text == "<@U1> ✅ `job-9` succeeded"
    assert _section(message) == "\n".join([
        "<@U1> *✅ `job-9` succeeded*",
        "*Asset:* intro",
        "*Video length:* 42 s",
        "*Run time:* 3 min 5 s",
        "<https://obs.example/p.mp4|Preview> (link valid for 24 h)",
    ])
    assert _texts(message)[1] == {"type": "image", "image_url": "https://obs.example/c.png",
                                  "alt_text": "Cover of intro"}
    bare = outcome(_job(state="SUCCEED"))  # no asset, times or address
    assert bare.text == "✅ `job-9` succeeded"
    assert _texts(bare) == [{"type": "section", "text": {
        "type": "mrkdwn", "text": "*✅ `job-9` succeeded*"}}]


def test_a_failure_shows_its_error_and_the_runbooks_next_step() -> None:
    job = _job(state="FAILED", error_info={"error_code": "MSS.00000001",
                                           "error_msg": "bad <input>"})
    message = outcome(job, mention_groups=["S0ONCALL"], requested_by="U1")
    assert message.text == "<!subteam^S0ONCALL> <@U1> ❌ `job-9` failed: MSS.00000001"
    lines = _section(message).split("\n")
    assert lines[:2] == ["<!subteam^S0ONCALL> <@U1> *❌ `job-9` failed*",
                         "*Error:* `MSS.00000001` bad &lt;input&gt;"]
    assert lines[2] == next_step("MSS.00000001") and len(lines) == 3
    no_code = outcome(_job(state="FAILED", error_info={"error_msg": ""}))
    assert _section(no_code).split("\n")[1] == "*Error:* `no error code`"
    assert no_code.text == "❌ `job-9` failed"


def test_an_error_on_a_job_that_did_not_fail_is_not_shown() -> None:
    message = outcome(_job(state="CANCELED", error_info={"error_code": "MSS.00000001"}))
    assert message.text == "🚫 `job-9` was canceled"
    assert _section(message) == "*🚫 `job-9` was canceled*"


@pytest.mark.parametrize(("state", "verb"), [
    ("SUCCEED", "succeeded"), ("FAILED", "failed"), ("CANCELED", "was canceled"),
    ("BLOCK", "was blocked (frozen)"), ("ON <HOLD>", "ended as ON &lt;HOLD&gt;"),
])
def test_each_end_has_its_verb(state: str, verb: str) -> None:
    assert outcome(_job(state=state)).text.endswith(f"`job-9` {verb}")


def test_a_dm_says_who_asked() -> None:
    message = outcome(_job(state="SUCCEED"), requested_by="U1", direct=True)
    assert message.text == "You asked me to tell you: ✅ `job-9` succeeded"


def test_a_preview_without_image_still_links_the_cover() -> None:
    job = _job(state="SUCCEED", output_asset_config={"cover_url": "https://obs.example/c.png"})
    message = outcome(job, with_image=False)
    assert _texts(message) == [{"type": "section", "text": {"type": "mrkdwn", "text":
        "*✅ `job-9` succeeded*\n<https://obs.example/c.png|Cover image>"}}]
    assert [b["type"] for b in _texts(outcome(job))] == ["section", "image"]


# -- the tracking message ------------------------------------------------------------------


def _tracked_job(job_id: str, state: str | None, closed: bool) -> TrackedJob:
    return TrackedJob(id=1, channel="C1", job_id=job_id, message_ts="1.0", requested_by="U1",
                      last_state=state, job_created_at=None, created_at=NOW,
                      paused_reason=None, closed=closed)


def test_the_tracking_message_while_jobs_run_and_once_all_ended() -> None:
    running = tracking_message([_tracked_job("job-1", "SUCCEED", True),
                                _tracked_job("job-2", "PROCESSING", False)])
    assert running.text == ("Tracking 2 jobs for <@U1>: 1 finished, 1 ✅. "
                            "I reply in this thread when a job ends.")
    assert _texts(running) == [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "*Tracking 2 jobs for <@U1>: 1 finished, 1 ✅*"}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "✅ `job-1` Succeeded\n⚙️ `job-2` Processing"}},
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": "I reply in this thread when a job ends."}]},
    ]
    ended = tracking_message([_tracked_job("job-1", "SUCCEED", True),
                              _tracked_job("job-2", "FAILED", True),
                              _tracked_job("job-3", "SUCCEED", True)])
    assert ended.text == ("Tracking 3 jobs for <@U1>: all finished, 2 ✅ 1 ❌. "
                          "All jobs ended; each one's outcome is in this thread.")
    one = tracking_message([_tracked_job("job-1", "WAITING", False)])
    assert one.text == "Tracking 1 job for <@U1>. I reply in this thread when a job ends."
    assert tracking_message([]).text == "Tracking 0 jobs. I reply in this thread when a job ends."


def test_a_state_word_with_spaces_is_shown_whole() -> None:
    assert tracked_line(_tracked("ON HOLD")) == "❔ `job-7` ON HOLD"


def test_waiting_jobs_get_a_cancel_button_when_someone_may_press_it() -> None:
    jobs = [_tracked_job("job-waiting-for-long", "WAITING", False),
            _tracked_job("job-2", "PROCESSING", False),
            _tracked_job("job-3", "WAITING", True)]  # closed: nothing to cancel
    blocks = _texts(tracking_message(jobs, can_cancel=True))
    [actions] = [b for b in blocks if b["type"] == "actions"]
    [button] = actions["elements"]
    assert button["text"]["text"] == "Cancel job-waiting-"  # the id's first 12 characters
    assert button["value"] == "job-waiting-for-long"
    assert not any(b["type"] == "actions" for b in _texts(tracking_message(
        [_tracked_job("job-2", "SUCCEED", True)], can_cancel=True)))
    # Nobody may press Cancel (CANCEL_ALLOWED unset): no button even on a waiting job.
    assert not any(b["type"] == "actions" for b in _texts(tracking_message(jobs)))


def test_every_group_of_an_audience_is_paged_once() -> None:
    job = _job(state="FAILED", error_info={"error_code": "MSS.00000001"})
    message = outcome(job, mention_groups=["S0ONCALL", "S0LEADS", "S0ONCALL"],
                      requested_by="U1")
    assert message.text.startswith("<!subteam^S0ONCALL> <!subteam^S0LEADS> <@U1> ❌")


def test_a_row_written_before_audiences_were_merged_still_pages_its_group() -> None:
    from bot.views.notifications import groups_of, notification

    old = {"job": {"job_id": "job-9", "state": "FAILED"}, "mention_group": "S0ONCALL"}
    assert groups_of(old) == ["S0ONCALL"]
    assert notification(old).text.startswith("<!subteam^S0ONCALL> ❌")
    assert groups_of({"mention_groups": ["S1", "S2"]}) == ["S1", "S2"]
    assert groups_of({}) == []


def test_a_digest_is_addressed_to_its_whole_audience() -> None:
    failed = Job.model_validate({"job_id": "job-10", "state": "FAILED"})
    in_thread = digest_summary([failed] * 6, people=["U1", "U2"], groups=["S0ONCALL"],
                               in_thread=True)
    assert in_thread.text == "<!subteam^S0ONCALL> <@U1> <@U2> 6 jobs finished: 6 ❌"
    assert _texts(in_thread)[-1]["elements"][0]["text"] == "Details follow in this thread."
    dm = digest_summary([failed] * 6, people=["U1"], direct=True)
    assert dm.text.startswith("You asked me to tell you: 6 jobs finished")
