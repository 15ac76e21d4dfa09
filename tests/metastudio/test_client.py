"""The MetaStudio client against the simulator over real HTTP on loopback: the happy
path, every unhappy one, paging and batch look-up."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bot.metastudio.auth import AkSkAuth, TokenAuth
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    ClockSkewError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
)
from bot.metastudio.models import JobState
from bot.metastudio.query import JobQuery
from bot.metastudio.transport import RetryPolicy, Timeouts
from tests.fixtures.metastudio import AK, FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID, SK, TOKEN

LIST_PATH = f"/v1/{PROJECT_ID}/digital-human-videos"



def client_for(url, auth=None, *, retry=FAST_RETRY, timeouts=FAST_TIMEOUTS) -> MetaStudioClient:
    return MetaStudioClient(
        url, PROJECT_ID, auth or AkSkAuth(AK, SK, PROJECT_ID), retry=retry, timeouts=timeouts
    )


def params(request) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in request.params:
        grouped.setdefault(name, []).append(value)
    return grouped


def test_lists_jobs_with_a_signed_request(simulator, metastudio_client):
    first = simulator.add_job(state="SUCCEED")
    simulator.add_job(state="PROCESSING")

    page = metastudio_client.list_jobs(JobQuery(limit=10))

    assert page.count == 2
    assert first in {job.job_id for job in page.jobs}
    assert page.request_id
    [request] = simulator.requests
    assert (request.method, request.path, request.status) == ("GET", LIST_PATH, 200)
    assert params(request)["limit"] == ["10"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, BadRequestError), (401, AuthError), (404, NotFoundError), (500, UnavailableError)],
)
def test_error_answers_become_typed_errors(simulator, metastudio_client, status, error):
    simulator.faults.fail_next(status=status, times=10)

    with pytest.raises(error) as raised:
        metastudio_client.list_jobs(JobQuery())

    e = raised.value
    assert e.status == status
    assert e.error_code and e.error_msg
    assert e.request_id
    assert e.request_id in str(e)


def test_throttled_then_answered_honours_retry_after(simulator, metastudio_client):
    simulator.faults.throttle(retry_after=1, times=1)

    started = time.monotonic()
    metastudio_client.list_jobs(JobQuery())

    assert time.monotonic() - started >= 0.9
    assert [r.status for r in simulator.requests] == [429, 200]


def test_server_errors_are_retried_until_an_answer(simulator, metastudio_client):
    simulator.faults.fail_next(status=500, times=2)

    metastudio_client.list_jobs(JobQuery())

    assert [r.status for r in simulator.requests] == [500, 500, 200]


def test_a_retry_after_past_the_budget_gives_up_at_once(simulator):
    simulator.faults.throttle(retry_after=5, times=10)
    # Waiting 5 s cannot fit a 0.3 s budget: no wait, no second request.
    quick = RetryPolicy(retries=3, backoff_factor=0.01, budget=0.3)
    client = client_for(simulator.url, retry=quick)

    started = time.monotonic()
    with pytest.raises(ThrottledError) as raised:
        client.list_jobs(JobQuery())

    assert time.monotonic() - started < 0.5
    assert raised.value.retry_after == 5
    assert len(simulator.requests) == 1


def test_a_retry_after_within_the_budget_is_waited_for(simulator):
    simulator.faults.throttle(retry_after=1, times=1)
    client = client_for(simulator.url, retry=RetryPolicy(retries=3, backoff_factor=0.01,
                                                         budget=3))

    started = time.monotonic()
    client.list_jobs(JobQuery())

    assert time.monotonic() - started >= 0.9
    assert [r.status for r in simulator.requests] == [429, 200]


def test_server_errors_past_the_retries_raise_unavailable(simulator, metastudio_client):
    simulator.faults.fail_next(status=503, times=10)

    with pytest.raises(UnavailableError) as raised:
        metastudio_client.list_jobs(JobQuery())

    assert raised.value.status == 503
    assert len(simulator.requests) == 4


def test_401_is_never_retried(simulator, metastudio_client):
    simulator.faults.fail_next(status=401, times=10)

    with pytest.raises(AuthError):
        metastudio_client.list_jobs(JobQuery())

    assert len(simulator.requests) == 1


def test_wrong_secret_key_is_refused_once_and_names_the_settings(simulator):
    client = client_for(simulator.url, AkSkAuth(AK, "SK-WRONG", PROJECT_ID))

    with pytest.raises(AuthError) as raised:
        client.list_jobs(JobQuery())

    assert not isinstance(raised.value, ClockSkewError)
    assert "METASTUDIO_AK / METASTUDIO_SK" in str(raised.value)
    assert "SK-WRONG" not in str(raised.value)
    assert len(simulator.requests) == 1


def test_a_clock_far_off_is_reported_as_clock_skew(simulator):
    slow = datetime.now(UTC) - timedelta(minutes=30)
    client = client_for(simulator.url, AkSkAuth(AK, SK, PROJECT_ID, clock=lambda: slow))

    with pytest.raises(ClockSkewError) as raised:
        client.list_jobs(JobQuery())

    assert "check the clock" in str(raised.value)
    assert len(simulator.requests) == 1


def test_token_auth(simulator):
    simulator.add_job()

    page = client_for(simulator.url, TokenAuth(TOKEN)).list_jobs(JobQuery())

    assert page.count == 1
    assert simulator.requests[0].headers.get("X-Auth-Token") == TOKEN


def test_a_wrong_token_names_its_setting(simulator):
    with pytest.raises(AuthError) as raised:
        client_for(simulator.url, TokenAuth("TOKEN-WRONG")).list_jobs(JobQuery())

    assert "METASTUDIO_AUTH_TOKEN" in str(raised.value)
    assert len(simulator.requests) == 1


def test_a_slow_answer_times_out_fast(simulator):
    simulator.faults.latency = 1.0
    client = client_for(simulator.url, timeouts=Timeouts(connect=1.0, read=0.2))

    started = time.monotonic()
    with pytest.raises(UnavailableError) as raised:
        client.list_jobs(JobQuery())

    assert time.monotonic() - started < 0.9
    assert isinstance(raised.value.__cause__, requests.Timeout)


def test_nothing_listening_is_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}")

    with pytest.raises(UnavailableError) as raised:
        client.list_jobs(JobQuery())

    assert isinstance(raised.value.__cause__, requests.ConnectionError)


def test_malformed_json_is_a_bad_response(simulator, metastudio_client):
    simulator.faults.malformed_json(times=1)

    with pytest.raises(BadResponseError) as raised:
        metastudio_client.list_jobs(JobQuery())

    assert raised.value.request_id
    assert len(simulator.requests) == 1


def test_schema_drift_is_tolerated(simulator, metastudio_client):
    simulator.faults.extra_fields = {"brand_new": {"nested": True}}
    job_id = simulator.add_job(state="RENDERING_IN_4D")

    [job] = metastudio_client.list_jobs(JobQuery()).jobs

    assert job.job_id == job_id
    assert job.state == "RENDERING_IN_4D"
    assert not isinstance(job.state, JobState)
    assert not job.is_finished


def test_iter_jobs_pages_by_100_until_count(simulator, metastudio_client):
    ids = {simulator.add_job() for _ in range(250)}

    jobs = list(metastudio_client.iter_jobs(JobQuery()))

    assert [job.job_id for job in jobs] == list(dict.fromkeys(job.job_id for job in jobs))
    assert {job.job_id for job in jobs} == ids
    assert [params(r)["offset"] for r in simulator.requests] == [["0"], ["100"], ["200"]]
    assert all(params(r)["limit"] == ["100"] for r in simulator.requests)


def test_iter_jobs_stops_at_max_jobs(simulator, metastudio_client):
    for _ in range(150):
        simulator.add_job()

    jobs = list(metastudio_client.iter_jobs(JobQuery(), max_jobs=120))

    assert len(jobs) == 120
    assert len(simulator.requests) == 2


def test_get_jobs_batches_by_100(simulator, metastudio_client):
    ids = [simulator.add_job() for _ in range(250)]

    found = metastudio_client.get_jobs([*ids, ids[0], "no-such-job"])

    assert set(found) == set(ids)
    lists = [r for r in simulator.requests if r.path.endswith("/digital-human-videos")]
    assert len(lists) == 3 and all("job_ids" in params(r) for r in lists)
    # The id no batch returned is tried with both detail operations (older than a month?).
    assert [r.path.rsplit("/", 2)[-2] for r in simulator.requests[3:]] == [
        "2d-digital-human-videos", "photo-digital-human-videos"]
    assert metastudio_client.supports_job_ids is True


def test_get_jobs_falls_back_when_the_server_ignores_job_ids(simulator, metastudio_client):
    ids = [simulator.add_job() for _ in range(5)]
    simulator.ignore_job_ids = True

    found = metastudio_client.get_jobs([ids[1], ids[3], "no-such-job"])

    assert set(found) == {ids[1], ids[3]}
    # One unfiltered answer is a strike, not a verdict.
    assert metastudio_client.supports_job_ids is None
    # The batch, then one look-up per id (the unknown one also by both detail paths).
    lists = [r for r in simulator.requests if r.path.endswith("/digital-human-videos")]
    assert [params(r).get("job_id") for r in lists[1:]] == [
        [ids[1]], [ids[3]], ["no-such-job"]
    ]
    assert len(simulator.requests) == 4 + 2

    for _ in range(2):
        metastudio_client.get_jobs([ids[0]])
    assert metastudio_client.supports_job_ids is False  # three answers in a row
    simulator.requests.clear()
    assert set(metastudio_client.get_jobs([ids[0]])) == {ids[0]}
    assert len(simulator.requests) == 1
    assert "job_ids" not in params(simulator.requests[0])


def test_a_count_above_the_batch_alone_is_no_evidence(simulator, metastudio_client):
    ids = [simulator.add_job() for _ in range(3)]
    simulator.faults.count_offset = 500

    for _ in range(5):
        assert set(metastudio_client.get_jobs(ids)) == set(ids)

    assert metastudio_client.supports_job_ids is None
    assert all("job_ids" in params(r) for r in simulator.requests)


def test_the_detail_operations_answer_with_the_script(simulator, metastudio_client):
    job_id = simulator.add_job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO", script_id="script-7")

    found = metastudio_client.find_detail(job_id)

    assert found.requests == 2  # the 2D path first: 404
    assert found.job is not None and found.job.model_extra["script_id"] == "script-7"
    assert metastudio_client.find_detail(job_id, job_type="PHOTO_DIGITAL_HUMAN_VIDEO"
                                         ).requests == 1


def test_paging_stops_when_a_server_ignores_offset(simulator, metastudio_client):
    for _ in range(150):
        simulator.add_job()
    simulator.faults.ignore_offset_count = 1_000_000

    jobs = list(metastudio_client.iter_jobs(JobQuery()))

    assert len(jobs) == 100 and len(simulator.requests) == 2


def test_paging_stops_at_its_ceiling(simulator, metastudio_client):
    from bot.metastudio.paging import walk_pages

    for _ in range(350):
        simulator.add_job()
    pages = list(walk_pages(metastudio_client.list_jobs, JobQuery(), max_pages=2))

    assert [len(p.jobs) for p in pages] == [100, 100] and len(simulator.requests) == 2


@pytest.mark.parametrize("job_ids_honoured", [True, False])
def test_look_ups_find_jobs_older_than_the_lists_month(simulator, metastudio_client,
                                                       job_ids_honoured):
    # docs/metastudio-api.md: without create_since the list may cover only the last month.
    simulator.faults.lookups_within_month = True
    simulator.ignore_job_ids = not job_ids_honoured
    old = simulator.add_job(state="SUCCEED", create_time=datetime.now(UTC) - timedelta(days=40))
    recent = simulator.add_job(state="PROCESSING")

    assert set(metastudio_client.get_jobs([old, recent])) == {old, recent}
    assert metastudio_client.get_job(old).job_id == old
    assert all("create_since" in params(r) for r in simulator.requests)


def test_get_job(simulator, metastudio_client):
    job_id = simulator.add_job(state="FAILED", error_code="MSS.1", error_msg="bad script")

    job = metastudio_client.get_job(job_id)

    assert job.state == JobState.FAILED
    assert job.error_info.error_msg == "bad script"
    assert metastudio_client.get_job("no-such-job") is None


def test_project_id_is_one_encoded_path_segment():
    client = MetaStudioClient("http://127.0.0.1:9", "a/b c", TokenAuth(TOKEN))

    assert client.path == "/v1/a%2Fb%20c/digital-human-videos"
