"""Tracking's Block Kit, word for word: the stuck announcement, a tracked job's line and
the channel's settings (pure functions of their arguments: no Slack, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.metastudio.models import Job
from bot.tracking.messages import (
    Message,
    settings_reply,
    stuck_announcement,
    tracked_line,
)
from bot.tracking.oncall import ChannelNoise
from bot.tracking.store import TrackedJob

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
