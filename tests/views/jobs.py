"""Sample jobs as MetaStudio sends them (the reference's DigitalHumanVideo), and helpers
to look inside replies."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.reply import Reply
from bot.metastudio.models import Job

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")

COVER = "https://obs.example.com/cover.png?AccessKeyId=AK&Expires=1671241457&Signature=zV%3D"
PREVIEW = "https://obs.example.com/preview.mp4?Expires=1671241457&Signature=aB%3D"

SUCCEEDED_2D: dict[str, Any] = {
    "job_id": "job-2d-ok",
    "state": "SUCCEED",
    "job_type": "2D_DIGITAL_HUMAN_VIDEO",
    "create_time": "2026-01-05T08:00:00Z",
    "start_time": "2026-01-05T08:00:30Z",
    "end_time": "2026-01-05T08:01:35Z",
    "duration": 60,
    "output_asset_config": {"asset_id": "a1", "asset_name": "One Day", "cover_url": COVER},
    "error_info": None,
    "lastupdate_time": "2026-01-05T08:01:35Z",
}
SUCCEEDED_PHOTO: dict[str, Any] = {
    **SUCCEEDED_2D,
    "job_id": "job-photo-ok",
    "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO",
    "output_asset_config": {"asset_name": "Portrait", "cover_url": COVER,
                            "preview_video_url": PREVIEW},
}
FAILED: dict[str, Any] = {
    **SUCCEEDED_2D,
    "job_id": "job-failed",
    "state": "FAILED",
    "output_asset_config": {"asset_name": "Launch teaser"},
    "error_info": {"error_code": "MSS.00000004", "error_msg": "Internal Error"},
}
PROCESSING: dict[str, Any] = {
    "job_id": "job-running",
    "state": "PROCESSING",
    "job_type": "2D_DIGITAL_HUMAN_VIDEO",
    "create_time": "2026-01-05T08:00:00Z",
    "start_time": "2026-01-05T08:00:30Z",
}
WAITING: dict[str, Any] = {**PROCESSING, "job_id": "job-waiting", "state": "WAITING",
                           "start_time": None}
CANCELED: dict[str, Any] = {**SUCCEEDED_2D, "job_id": "job-canceled", "state": "CANCELED"}
BLOCKED: dict[str, Any] = {**SUCCEEDED_2D, "job_id": "job-blocked", "state": "BLOCK"}
#: A state and a job type the bot has never heard of.
SURPRISING: dict[str, Any] = {"job_id": "job-odd", "state": "ARCHIVED",
                              "job_type": "3D_HOLOGRAM_VIDEO"}
#: An asset name that would ping the whole channel if pasted raw into mrkdwn.
PINGING: dict[str, Any] = {
    **FAILED,
    "job_id": "job-ping",
    "output_asset_config": {"asset_name": "<!channel> & <@U123>", "cover_url": COVER},
    "error_info": {"error_code": "MSS.1", "error_msg": "bad <!here> input"},
}


def job(payload: dict[str, Any], **changes: Any) -> Job:
    return Job.model_validate({**payload, **changes})


def texts(reply: Reply) -> list[str]:
    """Every text Slack reads as mrkdwn or shows as text: the fallback and each ``text``
    of the blocks (alt texts and button values are never parsed for mentions)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, v in value.items():
                if key == "text" and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(reply.to_payload())
    return found


def everything(reply: Reply) -> str:
    return json.dumps(reply.to_payload(), ensure_ascii=False)


def blocks_of(reply: Reply) -> list[dict[str, Any]]:
    return [b.to_dict() for b in reply.blocks]


def buttons_of(reply: Reply) -> dict[str, str]:
    """action_id -> value of every button."""
    return {e["action_id"]: e["value"] for b in blocks_of(reply) if b["type"] == "actions"
            for e in b["elements"]}


def assert_within_slack_limits(reply: Reply) -> None:
    """Slack: 50 blocks, 3000 characters per section text, 10 fields of 2000 each."""
    blocks = blocks_of(reply)
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert reply.text
