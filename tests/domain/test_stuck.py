"""The stuck line: the p95 of recent waits and runs per job type, never below a floor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.stuck import FLOOR, MIN_SAMPLES, LearnedStuck, find_stuck, learn_lines
from bot.metastudio.models import Job

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def finished(wait_min: float, run_min: float, kind: str = "2D_DIGITAL_HUMAN_VIDEO") -> Job:
    created = NOW - timedelta(days=1)
    start = created + timedelta(minutes=wait_min)
    return Job.model_validate({"job_id": "f", "state": "SUCCEED", "job_type": kind,
                               "create_time": created, "start_time": start,
                               "end_time": start + timedelta(minutes=run_min)})


def unfinished(state: str, age_min: float, kind: str = "2D_DIGITAL_HUMAN_VIDEO") -> Job:
    since = NOW - timedelta(minutes=age_min)
    return Job.model_validate({"job_id": f"{state}-{age_min}", "state": state,
                               "job_type": kind, "create_time": since - timedelta(hours=1),
                               "start_time": since if state == "PROCESSING" else None}
                              | ({"create_time": since} if state == "WAITING" else {}))


def test_the_line_is_the_95th_percentile_per_type_and_phase():
    history = [finished(w, 90 + w) for w in range(1, 101)]  # waits 1..100 min
    lines = learn_lines(history)
    assert abs(lines["2d", "waiting"] - 95.05 * 60) < 1
    assert abs(lines["2d", "running"] - (90 + 95.05) * 60) < 1
    assert lines["photo", "waiting"] == FLOOR["waiting"]  # no photo history: the floor


def test_too_few_samples_or_quick_jobs_leave_the_floor():
    few = learn_lines([finished(600, 600)] * (MIN_SAMPLES - 1))
    assert few["2d", "waiting"] == FLOOR["waiting"] and few["2d", "running"] == FLOOR["running"]
    quick = learn_lines([finished(1, 2)] * 50)
    assert quick["2d", "waiting"] == FLOOR["waiting"]


def test_jobs_past_their_line_oldest_first():
    lines = {("2d", "waiting"): 1800.0, ("2d", "running"): 3600.0,
             ("photo", "waiting"): 1800.0, ("photo", "running"): 3600.0}
    jobs = [unfinished("WAITING", 20), unfinished("WAITING", 40), unfinished("PROCESSING", 50),
            unfinished("PROCESSING", 70), unfinished("WAITING", 400, "PHOTO_DIGITAL_HUMAN_VIDEO")]
    found = find_stuck(jobs, NOW, older_than=None, lines=lines)
    assert [(s.job.job_id, s.phase) for s in found] == [
        ("WAITING-400", "waiting"), ("PROCESSING-70", "running"), ("WAITING-40", "waiting")]
    given = find_stuck(jobs, NOW, older_than=45 * 60, lines=lines)
    assert [s.job.job_id for s in given] == ["WAITING-400", "PROCESSING-70", "PROCESSING-50"]


def test_the_home_tabs_stuck_jobs_use_the_same_lines_learnt_once_per_ttl(simulator, sim_clock,
                                                                        metastudio_client):
    stuck = LearnedStuck(metastudio_client)
    now = sim_clock()

    def waiting(minutes: int) -> Job:
        return Job.model_validate({"job_id": f"w{minutes}", "state": "WAITING",
                                   "create_time": now - timedelta(minutes=minutes)})

    late, fresh = waiting(45), waiting(20)
    assert [j.job_id for j in stuck([late, fresh], now)] == [late.job_id]  # the 30 min floor
    learnt = len(simulator.requests)
    assert learnt >= 1
    stuck([late], now + timedelta(minutes=5))
    assert len(simulator.requests) == learnt  # within ten minutes: no new reading
    stuck([late], now + timedelta(minutes=11))
    assert len(simulator.requests) > learnt
