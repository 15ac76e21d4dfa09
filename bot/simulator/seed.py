"""Realistic seeded jobs: both job types, all six states, failures with error info,
and unfinished jobs that finish over the next minutes (so the demo has news)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from .jobs import SimJob

ASSETS = (
    "Quarterly update (EN)", "Quarterly update (ZH)", "Onboarding - welcome", "Product tour v3",
    "Safety briefing", "Weekly news digest", "Holiday greeting", "Support FAQ #12",
    "Launch teaser", "Training module 4", "Investor relations Q3", "Campus recruiting",
)
FAILURES = (
    ("MSS.00000004", "Internal Error"),
    ("MSS.00000003", "Invalid parameter: voice_config.voice_asset_id"),
    ("MSS.10001009", "Text to speech failed: unsupported character in script"),
    ("MSS.10002004", "Model asset is not available"),
    ("MSS.10003001", "Render timeout"),
)
TYPES = ("2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO")


def seed_jobs(count: int, now: datetime, rng: random.Random) -> list[SimJob]:
    """``count`` jobs created over the last three days; about one in six still unfinished,
    each with a schedule that ends within the next few minutes."""
    jobs = []
    for _ in range(count):
        job_type = rng.choices(TYPES, weights=(3, 2))[0]
        asset = rng.choice(ASSETS)
        unfinished = rng.random() < 0.17
        if unfinished:
            created = now - timedelta(seconds=rng.uniform(5, 600))
            start = now + timedelta(seconds=rng.uniform(-60, 40))
            end = max(start, now) + timedelta(seconds=rng.uniform(10, 180))
        else:
            created = now - timedelta(seconds=rng.uniform(600, 3 * 86400))
            start = created + timedelta(seconds=rng.uniform(2, 300))
            end = start + timedelta(seconds=rng.uniform(30, 900))
        outcome = rng.choices(FINISHED_WEIGHTS[0], weights=FINISHED_WEIGHTS[1])[0]
        code, msg = rng.choice(FAILURES) if outcome == "FAILED" else (None, None)
        jobs.append(SimJob(
            job_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            job_type=job_type,
            create_time=created.replace(microsecond=0),
            asset_name=asset,
            script_id=f"script-{rng.randint(1, 8):03d}",
            fixed_state=None,
            start_at=start.replace(microsecond=0),
            end_at=end.replace(microsecond=0),
            outcome=outcome,
            error_code=code,
            error_msg=msg,
            video_seconds=round(rng.uniform(15, 240), 1),
        ))
    return jobs


#: Most jobs succeed; on-call needs some failures to look at.
FINISHED_WEIGHTS = (("SUCCEED", "FAILED", "CANCELED", "BLOCK"), (70, 20, 7, 3))
