"""The MetaStudio client against the simulator over real HTTP on loopback (and
tests/fakes/raw_http.py for answers the simulator never gives): the happy path, every
unhappy one, paging and batch look-up, the create_since of every look-up, what each
look-up path costs in requests and returns, and the shape check of a list answer."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests

from bot.metastudio.auth import AkSkAuth, TokenAuth
from bot.metastudio.client import LOOKUP_REACH, JobIdsSupport, MetaStudioClient, lookup_since
from bot.metastudio.errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    ClockSkewError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
)
from bot.metastudio.models import Job, JobState, JobType
from bot.metastudio.query import JobQuery
from bot.metastudio.transport import RetryPolicy, Timeouts
from tests.fakes import raw_http
from tests.fixtures.metastudio import AK, FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID, SK, TOKEN

LIST_PATH = f"/v1/{PROJECT_ID}/digital-human-videos"
DETAIL_2D = f"/v1/{PROJECT_ID}/2d-digital-human-videos"
DETAIL_PHOTO = f"/v1/{PROJECT_ID}/photo-digital-human-videos"


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def client_for(url, auth=None, *, retry=FAST_RETRY, timeouts=FAST_TIMEOUTS) -> MetaStudioClient:
    return MetaStudioClient(
        url, PROJECT_ID, auth or AkSkAuth(AK, SK, PROJECT_ID), retry=retry, timeouts=timeouts
    )


def raw_client(url: str) -> MetaStudioClient:
    return MetaStudioClient(url, PROJECT_ID, TokenAuth(TOKEN),
                            retry=RetryPolicy(retries=0, budget=0),
                            timeouts=Timeouts(connect=1.0, read=2.0, deadline=5.0))


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
    # (Side by side, so in either order.)
    assert sorted(r.path.rsplit("/", 2)[-2] for r in simulator.requests[3:]) == [
        "2d-digital-human-videos", "photo-digital-human-videos"]
    assert metastudio_client.supports_job_ids is True


def test_get_jobs_falls_back_when_the_server_ignores_job_ids(simulator, metastudio_client):
    ids = [simulator.add_job() for _ in range(5)]
    simulator.ignore_job_ids = True

    found = metastudio_client.get_jobs([ids[1], ids[3], "no-such-job"])

    assert set(found) == {ids[1], ids[3]}
    # One unfiltered answer is a strike, not a verdict.
    assert metastudio_client.supports_job_ids is None
    # The batch, then one look-up per id (side by side, so in any order; the unknown
    # one also by both detail paths).
    lists = [r for r in simulator.requests if r.path.endswith("/digital-human-videos")]
    assert sorted(params(r).get("job_id") for r in lists[1:]) == sorted([
        [ids[1]], [ids[3]], ["no-such-job"]
    ])
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


# -- lookup_since --------------------------------------------------------------------


def test_lookup_since_is_the_utc_midnight_three_years_back() -> None:
    since = lookup_since(datetime(2026, 3, 10, 17, 45, tzinfo=UTC))

    assert since == datetime(2026, 3, 10, tzinfo=UTC) - LOOKUP_REACH
    assert timedelta(days=3 * 365) == LOOKUP_REACH


def test_lookup_since_takes_the_utc_date_whatever_the_local_zone(monkeypatch) -> None:
    # 20:00 UTC is already the next day in Tokyo and still the same one in New York.
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        utc_evening = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)
        new_york = datetime(2026, 3, 10, 22, 30, tzinfo=timezone(timedelta(hours=-5)))
        assert lookup_since(utc_evening) == datetime(2026, 3, 10, tzinfo=UTC) - LOOKUP_REACH
        # 22:30 in New York is 03:30 UTC the next day.
        assert lookup_since(new_york) == datetime(2026, 3, 11, tzinfo=UTC) - LOOKUP_REACH
    finally:
        monkeypatch.undo()  # TZ as it was, then re-read it
        time.tzset()


def test_every_look_up_sends_that_create_since(simulator, metastudio_client) -> None:
    job_id = simulator.add_job()
    metastudio_client.get_jobs([job_id])
    metastudio_client.find_job(job_id)

    expected = lookup_since().strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [params(r)["create_since"] for r in simulator.requests] == [[expected]] * 2


# -- get_jobs, find_job, find_detail --------------------------------------------------


def test_jobs_found_by_detail_or_one_by_one_are_returned_as_jobs(simulator,
                                                                 metastudio_client) -> None:
    simulator.faults.list_month_only = True
    old = simulator.add_job(state="SUCCEED", create_time=datetime.now(UTC) - timedelta(days=90))
    recent = simulator.add_job(state="PROCESSING")

    found = metastudio_client.get_jobs([old, recent])  # the batch, then the detail of `old`
    assert {k: (v.job_id, v.state) for k, v in found.items()} == {
        old: (old, "SUCCEED"), recent: (recent, "PROCESSING")}

    metastudio_client.job_ids = JobIdsSupport(strikes=1, clock=Clock())
    metastudio_client.job_ids.record(False)  # decided: job_ids is ignored
    simulator.requests.clear()
    found = metastudio_client.get_jobs([recent, old])  # one by one
    assert all("job_ids" not in params(r) for r in simulator.requests)
    assert {k: (v.job_id, v.state) for k, v in found.items()} == {
        old: (old, "SUCCEED"), recent: (recent, "PROCESSING")}


def test_find_job_asks_the_list_for_one_row(simulator, metastudio_client) -> None:
    job_id = simulator.add_job()

    found = metastudio_client.find_job(job_id)

    assert found.job is not None and found.job.job_id == job_id and found.requests == 1
    [request] = simulator.requests
    assert params(request)["limit"] == ["1"] and params(request)["job_id"] == [job_id]


@pytest.mark.parametrize(("job_type", "path"), [
    ("2D_DIGITAL_HUMAN_VIDEO", DETAIL_2D),
    ("PHOTO_DIGITAL_HUMAN_VIDEO", DETAIL_PHOTO),
    ("DIGITAL_HUMAN_PHOTO_VIDEO", DETAIL_PHOTO),
])
def test_find_job_with_a_known_type_asks_that_types_detail_only(
    simulator, metastudio_client, job_type, path
) -> None:
    job_id = simulator.add_job(state="SUCCEED", job_type=job_type)

    found = metastudio_client.find_job(job_id, job_type=job_type)

    assert found.job is not None and found.job.job_id == job_id
    assert found.requests == 1
    assert [r.path for r in simulator.requests] == [f"{path}/{job_id}"]


def test_an_unknown_type_counts_as_2d(simulator, metastudio_client) -> None:
    job_id = simulator.add_job(state="SUCCEED")

    found = metastudio_client.find_detail(job_id, job_type="HOLOGRAM")

    assert found.job is not None and found.requests == 1
    assert [r.path for r in simulator.requests] == [f"{DETAIL_2D}/{job_id}"]


def test_find_job_counts_every_request_it_made(simulator, metastudio_client) -> None:
    simulator.faults.list_month_only = True
    long_ago = datetime.now(UTC) - timedelta(days=90)
    old_2d = simulator.add_job(state="SUCCEED", create_time=long_ago)
    old_photo = simulator.add_job(state="FAILED", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                                  create_time=long_ago)

    # The list (nothing older than a month), then the detail operations in turn.
    assert metastudio_client.find_job(old_2d).requests == 2
    photo = metastudio_client.find_job(old_photo)
    assert photo.job is not None and photo.job.job_id == old_photo and photo.requests == 3
    # A wrong type: its detail (404), the list, then both details.
    wrong = metastudio_client.find_job(old_photo, job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert wrong.job is not None and wrong.job.job_id == old_photo and wrong.requests == 4
    nothing = metastudio_client.find_job("no-such-job", job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert nothing.job is None and nothing.requests == 4


def test_a_job_id_is_one_encoded_path_segment_of_the_detail(simulator,
                                                            metastudio_client) -> None:
    simulator.add_job("a/b c", state="SUCCEED")

    found = metastudio_client.find_detail("a/b c")

    assert found.job is not None and found.job.job_id == "a/b c"


def test_a_detail_answer_gets_its_id_and_type_from_the_request(server) -> None:
    server.behaviour = raw_http.ok({"state": "SUCCEED"})

    found = raw_client(server.url).find_detail("job-1")

    assert found.job is not None
    assert (found.job.job_id, found.job.job_type) == ("job-1", JobType.VIDEO_2D)
    assert server.requests == [f"GET {DETAIL_2D}/job-1 HTTP/1.1"]


def test_a_detail_answer_for_another_job_is_not_taken(server) -> None:
    server.behaviour = raw_http.ok({"job_id": "someone-else", "state": "SUCCEED"})

    found = raw_client(server.url).find_detail("job-1")

    assert found.job is None and found.requests == 2


def test_a_detail_answer_that_is_no_job_is_a_bad_response(server) -> None:
    server.behaviour = raw_http.ok({"state": "SUCCEED", "error_info": 5})

    with pytest.raises(BadResponseError) as raised:
        raw_client(server.url).find_detail("job-1")

    assert raised.value.message == "MetaStudio's answer does not look like a job"
    assert raised.value.request_id == "req-raw-1"


def test_a_list_answer_that_is_no_job_list_is_a_bad_response(server) -> None:
    server.behaviour = raw_http.ok({"count": 1, "jobs": [{"job_id": "a", "error_info": 5}]})

    with pytest.raises(BadResponseError) as raised:
        raw_client(server.url).list_jobs(JobQuery())

    assert raised.value.message == "MetaStudio's answer was malformed: not a job list"
    assert raised.value.request_id == "req-raw-1"


def test_scan_stops_at_max_pages(simulator, metastudio_client) -> None:
    for _ in range(350):
        simulator.add_job()

    pages = list(metastudio_client.scan(JobQuery(limit=100), max_pages=2))

    assert [len(p.jobs) for p in pages] == [100, 100]
    assert len(simulator.requests) == 2


def test_found_jobs_are_jobs(simulator, metastudio_client) -> None:
    job_id = simulator.add_job()
    assert isinstance(metastudio_client.get_job(job_id), Job)


def test_the_client_uses_the_session_and_concurrency_it_was_given() -> None:
    import requests

    session = requests.Session()
    client = MetaStudioClient("http://127.0.0.1:9", PROJECT_ID, TokenAuth(TOKEN),
                              session=session, max_concurrency=2)
    assert client.transport.session is session
    assert client.transport._slots._value == 2  # type: ignore[attr-defined]

    default = MetaStudioClient("http://127.0.0.1:9", PROJECT_ID, TokenAuth(TOKEN))
    assert default.transport._slots._value == 64  # type: ignore[attr-defined]


@pytest.mark.parametrize(("body", "problem"), [
    ({"jobs": "x"}, "'jobs' is a str, not a list"),
    ({"jobs": [{}] * 101}, "101 jobs on one page, more than the API's 100"),
    ({"jobs": [{}, 1]}, "'jobs' holds something other than job objects"),
    ({"jobs": [], "count": True}, "'count' is True, not a whole number"),
    ({"jobs": None, "count": -1}, "'count' is -1, not a whole number"),
    ({"jobs": [{}] * 100, "count": 0}, None),
])
def test_the_shape_check_of_a_list_answer_says_exactly_what_is_wrong(body, problem) -> None:
    from bot.metastudio.shape import page_problem

    assert page_problem(body) == problem
