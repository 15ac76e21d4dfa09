"""Jobs move WAITING -> PROCESSING -> an end state as simulated time passes, computed
from the clock at request time: advancing the clock is all a test (or the demo) needs."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from bot.simulator import SimClock, Simulator


def test_a_scheduled_job_waits_processes_and_succeeds(simulator, sim_api, sim_clock):
    job_id = simulator.add_job(start_in=10, finish_in=70)
    seen = []

    for _ in range(3):
        seen.append(sim_api.jobs({"job_id": job_id})[0]["state"])
        sim_clock.advance(40)

    assert seen == ["WAITING", "PROCESSING", "SUCCEED"]


def test_a_scheduled_failure_ends_with_error_info(simulator, sim_api):
    job_id = simulator.add_job(finish_in=30, outcome="FAILED", error_code="MSS.10001006",
                               error_msg="Asset create job failed")

    simulator.advance(31)

    [job] = sim_api.jobs({"job_id": job_id})
    assert job["state"] == "FAILED"
    assert job["error_info"]["error_code"] == "MSS.10001006"


def test_times_follow_the_schedule(simulator, sim_api):
    job_id = simulator.add_job(start_in=5, finish_in=65)
    created = simulator.now()

    simulator.advance(120)

    [job] = sim_api.jobs({"job_id": job_id})
    started, ended = created + timedelta(seconds=5), created + timedelta(seconds=65)
    assert job["start_time"] == started.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["end_time"] == ended.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert job["lastupdate_time"] == job["end_time"]


def test_a_state_filter_sees_the_state_at_request_time(simulator, sim_api):
    job_id = simulator.add_job(finish_in=60)
    assert sim_api.ids({"state": "SUCCEED"}) == []

    simulator.advance(60)

    assert sim_api.ids({"state": "SUCCEED"}) == [job_id]


def test_set_state_overrides_a_schedule(simulator, sim_api):
    job_id = simulator.add_job(finish_in=60)

    simulator.set_state(job_id, "CANCELED")
    simulator.advance(120)

    assert sim_api.jobs({"job_id": job_id})[0]["state"] == "CANCELED"


def seeded(count: int, rng_seed: int, clock: SimClock) -> Simulator:
    return Simulator(seed_jobs=count, rng_seed=rng_seed, clock=clock)


def test_seeded_jobs_are_reproducible(sim_clock):
    assert seeded(50, 3, sim_clock).jobs == seeded(50, 3, sim_clock).jobs
    assert seeded(50, 3, sim_clock).jobs != seeded(50, 4, sim_clock).jobs


def test_seeded_jobs_are_a_realistic_mix(sim_clock):
    jobs = seeded(300, 7, sim_clock).jobs.values()

    states = Counter(job["state"] for job in jobs)
    assert set(states) == {"WAITING", "PROCESSING", "SUCCEED", "FAILED", "CANCELED", "BLOCK"}
    assert states["SUCCEED"] > states["FAILED"] > 0
    assert {job["job_type"] for job in jobs} == {
        "2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO",
    }
    failed = [job for job in jobs if job["state"] == "FAILED"]
    assert all(job["error_info"]["error_code"].startswith("MSS.") for job in failed)
    oldest = min(job["create_time"] for job in jobs)
    assert oldest >= (sim_clock() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_seeded_unfinished_jobs_finish_within_minutes(sim_clock):
    sim = seeded(300, 7, sim_clock)
    unfinished = {i for i, job in sim.jobs.items() if job["state"] in ("WAITING", "PROCESSING")}
    assert unfinished

    sim_clock.advance(5 * 60)

    assert all(sim.jobs[i]["state"] not in ("WAITING", "PROCESSING") for i in unfinished)
