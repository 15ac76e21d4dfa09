"""The cached client over the real client and the simulator: what costs a request."""

from __future__ import annotations

from bot.metastudio.cache import CachedJobsClient
from bot.metastudio.query import JobQuery
from tests.concurrency import run_concurrently


def test_fifty_identical_concurrent_queries_cost_one_request(simulator, jobs_client):
    simulator.add_job(state="FAILED")
    simulator.faults.latency = 0.2

    pages = run_concurrently(50, lambda: jobs_client.list_jobs(JobQuery(states=("FAILED",))))

    assert len(simulator.requests) == 1
    assert all(page == pages[0] for page in pages)


def test_repeats_within_the_ttl_cost_nothing_and_expire_by_the_clock(simulator, metastudio_client):
    now = [0.0]
    client = CachedJobsClient(metastudio_client, ttl=15, finished_ttl=600, clock=lambda: now[0])
    job_id = simulator.add_job(state="PROCESSING")

    client.list_jobs(JobQuery())
    client.get_job(job_id)  # filled by the listing
    now[0] = 14
    client.list_jobs(JobQuery())
    assert len(simulator.requests) == 1

    now[0] = 16  # the listing expired; refetching it refreshes the job's entry too
    client.list_jobs(JobQuery())
    client.get_job(job_id)
    assert len(simulator.requests) == 2
    assert client.stats().hits == 3

    now[0] = 32  # a running job's own entry expires after the same ttl
    client.get_job(job_id)
    assert len(simulator.requests) == 3


def test_errors_reach_every_waiting_caller_and_are_not_cached(simulator, jobs_client):
    simulator.faults.latency = 0.2
    simulator.faults.fail_next(status=400, times=1)

    results = run_concurrently(10, lambda: jobs_client.list_jobs(JobQuery()))

    assert all(isinstance(r, Exception) for r in results)
    assert len(simulator.requests) == 1
    jobs_client.list_jobs(JobQuery())
    assert len(simulator.requests) == 2


def test_the_pollers_reads_are_fresh_remembered_and_never_kept_as_listings(
    simulator, metastudio_client
):
    client = CachedJobsClient(metastudio_client, ttl=15, finished_ttl=600, clock=lambda: 0.0)
    ids = [simulator.add_job(state="PROCESSING") for _ in range(150)]

    pages = list(client.scan(JobQuery(limit=100)))
    assert [len(p.jobs) for p in pages] == [100, 50]
    list(client.scan(JobQuery(limit=100)))
    assert len(simulator.requests) == 4  # a sweep is never answered from the cache
    assert client._lists.currsize == 0  # nor stored whole

    simulator.set_state(ids[0], "SUCCEED")
    assert client.lookup_batch(ids[:1])[ids[0]].state == "SUCCEED"
    mark = len(simulator.requests)
    assert client.get_job(ids[0]).state == "SUCCEED"  # what the poller saw, remembered
    assert len(simulator.requests) == mark
    found = client.find_job(ids[1])
    assert found.job.job_id == ids[1] and found.requests == 1
    assert client.use_job_ids() is True
