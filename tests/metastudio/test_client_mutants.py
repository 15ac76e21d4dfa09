"""The client's look-ups in detail (mutation testing, bench/MUTATION.md): the create_since
of every look-up, the evidence rules of JobIdsSupport on an injected clock, what each
look-up path costs in requests and returns, and the exact log lines an operator reads.
The simulator over loopback HTTP, and tests/fakes/raw_http.py for answers it never gives."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.metastudio.auth import TokenAuth
from bot.metastudio.client import LOOKUP_REACH, JobIdsSupport, MetaStudioClient, lookup_since
from bot.metastudio.errors import BadResponseError
from bot.metastudio.models import Job, JobType
from bot.metastudio.query import JobQuery
from bot.metastudio.transport import RetryPolicy, Timeouts
from tests.fakes import raw_http
from tests.fixtures.metastudio import PROJECT_ID, TOKEN

DETAIL_2D = f"/v1/{PROJECT_ID}/2d-digital-human-videos"
DETAIL_PHOTO = f"/v1/{PROJECT_ID}/photo-digital-human-videos"
LIST = f"/v1/{PROJECT_ID}/digital-human-videos"


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def raw_client(url: str) -> MetaStudioClient:
    return MetaStudioClient(url, PROJECT_ID, TokenAuth(TOKEN),
                            retry=RetryPolicy(retries=0, budget=0),
                            timeouts=Timeouts(connect=1.0, read=2.0, deadline=5.0))


def params(request) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in request.params:
        grouped.setdefault(name, []).append(value)
    return grouped


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


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


# -- JobIdsSupport ---------------------------------------------------------------------


def test_job_ids_are_worth_asking_until_decided_and_again_after_recheck() -> None:
    clock = Clock(0.0)
    support = JobIdsSupport(strikes=3, recheck=600.0, clock=clock)
    assert support.worth_asking() and support.honoured is None

    clock.now = 100.0
    for _ in range(3):
        support.record(False)
    assert support.honoured is False and not support.worth_asking()
    clock.now = 699.9
    assert not support.worth_asking()
    clock.now = 700.0  # exactly `recheck` seconds after the verdict
    assert support.worth_asking()


def test_the_defaults_are_three_strikes_and_ten_minutes() -> None:
    clock = Clock(5.0)
    support = JobIdsSupport(clock=clock)
    support.record(False)
    support.record(False)
    assert support.honoured is None
    support.record(False)
    assert support.honoured is False
    clock.now = 604.9
    assert not support.worth_asking()
    clock.now = 605.0
    assert support.worth_asking()


def test_strikes_must_come_in_a_row() -> None:
    support = JobIdsSupport(strikes=3, clock=Clock())
    support.record(False)
    support.record(False)
    support.record(True)  # a filtered answer starts the count again
    support.record(False)
    support.record(False)
    assert support.honoured is True
    support.record(None)  # inconclusive: changes nothing
    assert support.honoured is True
    support.record(False)
    assert support.honoured is False


def test_each_later_miss_restarts_the_recheck_wait() -> None:
    clock = Clock(0.0)
    support = JobIdsSupport(strikes=1, recheck=10.0, clock=clock)
    support.record(False)
    clock.now = 10.0
    assert support.worth_asking()
    support.record(False)  # the recheck was unfiltered again
    assert not support.worth_asking()
    clock.now = 20.0
    assert support.worth_asking()


def test_the_verdicts_are_logged_once_each_with_the_request_id(caplog) -> None:
    support = JobIdsSupport(strikes=2, recheck=30.0, clock=Clock())
    with caplog.at_level(logging.INFO, logger="bot.metastudio.client"):
        support.record(True, request_id="r-0")  # honoured from the start: nothing to say
        support.record(False, request_id="r-1")
        support.record(False, request_id="r-2")
        support.record(False, request_id="r-3")  # already decided: not said again
        support.record(True, request_id="r-4")
        support.record(True, request_id="r-5")

    assert warnings(caplog) == [
        "MetaStudio ignores job_ids (2 unfiltered answers in a row, the last request id "
        "r-2): listing by state instead, checking again in 30 s",
        "MetaStudio filters by job_ids again (request id r-4)",
    ]


# -- lookup_batch ----------------------------------------------------------------------


def test_an_exact_count_is_evidence_of_filtering(simulator, metastudio_client) -> None:
    ids = [simulator.add_job() for _ in range(2)]

    assert set(metastudio_client.get_jobs(ids)) == set(ids)

    assert metastudio_client.supports_job_ids is True


def test_an_unfiltered_batch_is_logged_and_counted_with_its_request_id(server,
                                                                       caplog) -> None:
    server.behaviour = raw_http.ok({"count": 5, "jobs": [
        {"job_id": "asked"}, {"job_id": "x1"}, {"job_id": "x2"}, {"job_id": "x3"}]})
    client = raw_client(server.url)

    with caplog.at_level(logging.INFO, logger="bot.metastudio.client"):
        for _ in range(3):
            assert client.lookup_batch(["asked", "other"]) is None

    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["a job_ids answer was not filtered (asked 2 ids, got count=5 with 3 "
                     "others; request id req-raw-1)"] * 3
    assert warnings(caplog) == [
        "MetaStudio ignores job_ids (3 unfiltered answers in a row, the last request id "
        "req-raw-1): listing by state instead, checking again in 600 s"]


def test_a_filtered_batch_after_the_verdict_is_logged_with_its_request_id(server,
                                                                          caplog) -> None:
    client = raw_client(server.url)
    client.job_ids = JobIdsSupport(strikes=1, clock=Clock())
    server.behaviour = raw_http.ok({"count": 2, "jobs": [{"job_id": "a"}, {"job_id": "z"}]})
    assert client.lookup_batch(["a"]) is None
    server.behaviour = raw_http.ok({"count": 1, "jobs": [{"job_id": "a"}]})
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="bot.metastudio.client"):
        assert set(client.lookup_batch(["a"]) or {}) == {"a"}

    assert warnings(caplog) == ["MetaStudio filters by job_ids again (request id req-raw-1)"]
    assert client.supports_job_ids is True


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
