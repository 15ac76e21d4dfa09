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
#: Codes and messages from MetaStudio's error code table (the FAQ on failed video
#: synthesis names duplicate asset names and missing assets), and the reference's 500.
FAILURES = (
    ("MSS.00000004", "Internal Error"),
    ("MSS.10001001", "Asset not found"),
    ("MSS.10001005", "Asset name already exists"),
    ("MSS.10001006", "Asset create job failed"),
    ("MSS.10000003", "Parameter validation abnormal"),
)
TYPES = ("2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO")
#: Most jobs succeed; on-call needs some failures to look at.
OUTCOMES = ("SUCCEED", "FAILED", "CANCELED", "BLOCK")
OUTCOME_WEIGHTS = (70, 20, 7, 3)
#: About one job in six is still WAITING or PROCESSING when seeded.
UNFINISHED_SHARE = 0.17


def seed_jobs(count: int, now: datetime, rng: random.Random) -> list[SimJob]:
    """``count`` jobs created over the last three days before ``now``; the unfinished
    ones end within the next few minutes. The same ``rng`` state gives the same jobs."""
    now = now.replace(microsecond=0)
    jobs = []
    for _ in range(count):
        if rng.random() < UNFINISHED_SHARE:
            created = now - timedelta(seconds=rng.randint(5, 600))
            # Never before its creation (a job cannot start before it exists).
            start = max(created + timedelta(seconds=1),
                        now + timedelta(seconds=rng.randint(-60, 40)))
            end = max(start, now) + timedelta(seconds=rng.randint(10, 180))
        else:
            created = now - timedelta(seconds=rng.randint(600, 3 * 86400))
            start = created + timedelta(seconds=rng.randint(2, 300))
            end = start + timedelta(seconds=rng.randint(30, 900))
        outcome = rng.choices(OUTCOMES, weights=OUTCOME_WEIGHTS)[0]
        code, msg = rng.choice(FAILURES) if outcome == "FAILED" else (None, None)
        jobs.append(
            SimJob(
                job_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                job_type=rng.choices(TYPES, weights=(3, 2))[0],
                create_time=created,
                asset_name=rng.choice(ASSETS),
                script_id=f"script-{rng.randint(1, 8):03d}",
                asset_id=f"{rng.getrandbits(128):032x}",
                fixed_state=None,
                start_at=start,
                end_at=end,
                outcome=outcome,
                error_code=code,
                error_msg=msg,
                video_seconds=round(rng.uniform(15, 240), 1),
            )
        )
    return jobs
