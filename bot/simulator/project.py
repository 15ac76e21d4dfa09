"""A realistic project: jobs created over the last days at a steady rate (and on into
the future, appearing as simulated time reaches them), lifecycles from minutes to days,
failures with MetaStudio's error codes. Benchmarks hold 100,000 of them; tests a few.

Every job starts at or after its creation and ends at or after its start.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import datetime, timedelta

from .jobs import SimJob
from .seed import ASSETS, FAILURES, OUTCOME_WEIGHTS, OUTCOMES, TYPES

#: Queue waits: most jobs start within a minute, some wait hours.
WAIT_SECONDS = ((0.85, 5, 120), (0.14, 120, 3_600), (0.01, 3_600, 2 * 86_400))
#: Render times: minutes mostly; a few take hours or days (long scripts, stuck renders).
RUN_SECONDS = ((0.90, 60, 900), (0.09, 900, 4 * 3_600), (0.01, 4 * 3_600, 3 * 86_400))


def _pick(rng: random.Random, bands: tuple[tuple[float, int, int], ...]) -> float:
    roll, total = rng.random(), 0.0
    for share, low, high in bands:
        total += share
        if roll < total:
            # Log-uniform within the band: short ones are more common.
            return math.exp(rng.uniform(math.log(low), math.log(high)))
    return float(bands[-1][2])


def project_jobs(
    count: int,
    now: datetime,
    rng: random.Random,
    *,
    days: float = 30.0,
    per_hour: float = 0.0,
    ahead: timedelta = timedelta(0),
    scripts: int = 8,
) -> list[SimJob]:
    """``count`` jobs created evenly (with jitter) over the ``days`` before ``now``, and
    jobs created at ``per_hour`` during ``ahead`` after ``now`` (they appear as the
    simulated clock reaches their creation)."""
    now = now.replace(microsecond=0)
    past = timedelta(days=days) / max(count, 1)
    times = [now - past * (count - i) for i in range(count)]
    if per_hour > 0:
        step = timedelta(hours=1 / per_hour)
        times += [now + step * (i + 1) for i in range(int(ahead / step))]
    jobs = []
    for base in times:
        jitter = (past if base <= now else timedelta(hours=1 / per_hour)) * rng.uniform(0, 0.4)
        created = min(base + jitter, base if base <= now else base + jitter)
        created = (now if base <= now and created > now else created).replace(microsecond=0)
        job = _job(created, rng, scripts)
        if created > now:
            job.hidden_until = created  # appears when the simulated clock gets there
        jobs.append(job)
    return jobs


def _job(created: datetime, rng: random.Random, scripts: int) -> SimJob:
    start = created + timedelta(seconds=_pick(rng, WAIT_SECONDS))
    end = start + timedelta(seconds=_pick(rng, RUN_SECONDS))
    outcome = rng.choices(OUTCOMES, weights=OUTCOME_WEIGHTS)[0]
    code, msg = rng.choice(FAILURES) if outcome == "FAILED" else (None, None)
    return SimJob(
        job_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        job_type=rng.choices(TYPES, weights=(3, 2))[0],
        create_time=created,
        asset_name=rng.choice(ASSETS),
        script_id=f"script-{rng.randint(1, scripts):03d}",
        asset_id=f"{rng.getrandbits(128):032x}",
        fixed_state=None,
        start_at=start.replace(microsecond=0),
        end_at=end.replace(microsecond=0),
        outcome=outcome,
        error_code=code,
        error_msg=msg,
        video_seconds=round(rng.uniform(15, 240), 1),
    )
