"""The transport against a server that misbehaves byte by byte (tests/fakes/raw_http.py):
every broken answer ends in a typed error that says what happened, within the deadline."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from urllib3.util.retry import RequestHistory

from bot.metastudio.auth import AkSkAuth, TokenAuth
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.errors import BadResponseError, UnavailableError
from bot.metastudio.query import JobQuery
from bot.metastudio.transport import MAX_ANSWER_BYTES, RetryPolicy, Timeouts, Transport, build_retry
from bot.views.errors import upstream_error_reply
from tests.fakes import raw_http
from tests.fixtures.metastudio import AK, PROJECT_ID, SK, TOKEN

NO_RETRY = RetryPolicy(retries=0, budget=0)
PATH = f"/v1/{PROJECT_ID}/digital-human-videos"


def transport(url: str, *, deadline: float = 5.0, read: float = 2.0,
              max_concurrency: int = 8, auth=None) -> Transport:
    return Transport(url, auth or TokenAuth(TOKEN), retry=NO_RETRY,
                     timeouts=Timeouts(connect=1.0, read=read, deadline=deadline),
                     max_concurrency=max_concurrency)


def client(url: str) -> MetaStudioClient:
    return MetaStudioClient(url, PROJECT_ID, TokenAuth(TOKEN), retry=NO_RETRY,
                            timeouts=Timeouts(connect=1.0, read=2.0, deadline=5.0))


def test_a_dripping_answer_is_given_up_at_the_deadline(server) -> None:
    # Each byte arrives well within the read timeout; only a total deadline stops it.
    server.behaviour = raw_http.drip(b'{"count": 0, "jobs": []}' + b" " * 1000, every=0.05)

    started = time.monotonic()
    with pytest.raises(UnavailableError) as raised:
        transport(server.url, deadline=0.5, read=2.0).get(PATH, [])

    assert time.monotonic() - started < 1.0
    assert "still arriving" in str(raised.value)
    assert raised.value.request_id == "req-raw-1"


def test_an_undeclared_dripping_answer_is_given_up_too(server) -> None:
    server.behaviour = raw_http.drip(b'{"count": 0, "jobs": []}' + b" " * 1000, every=0.05,
                                     declare=False)

    with pytest.raises(UnavailableError, match="still arriving"):
        transport(server.url, deadline=0.5, read=2.0).get(PATH, [])


def test_a_stalled_answer_ends_at_the_deadline_not_the_read_timeout(server) -> None:
    server.behaviour = raw_http.stall(10)

    started = time.monotonic()
    with pytest.raises(UnavailableError, match="still arriving"):
        transport(server.url, deadline=0.5, read=5.0).get(PATH, [])

    assert time.monotonic() - started < 1.5


def test_a_slow_request_does_not_hold_up_the_others(server) -> None:
    release = threading.Event()
    fast = raw_http.ok({"count": 0, "jobs": []})
    server.behaviour = raw_http.hold(release, fast)
    shared = transport(server.url, deadline=5.0, max_concurrency=4)
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(shared.get, PATH, [])
        while not server.requests:  # the slow one is in flight
            time.sleep(0.01)
        server.behaviour = fast

        started = time.monotonic()
        shared.get(PATH, [])
        assert time.monotonic() - started < 2.0  # the slow one is held for up to 10 s
        release.set()
        slow.result(timeout=5)


def test_requests_past_the_concurrency_limit_wait_then_give_up(server) -> None:
    release = threading.Event()
    server.behaviour = raw_http.hold(release, raw_http.ok({"count": 0, "jobs": []}))
    shared = transport(server.url, deadline=0.3, read=5.0, max_concurrency=1)
    shared.timeouts = Timeouts(connect=1.0, read=5.0, deadline=5.0)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(shared.get, PATH, [])
        while not server.requests:
            time.sleep(0.01)
        shared.timeouts = Timeouts(connect=1.0, read=5.0, deadline=0.3)

        with pytest.raises(UnavailableError, match="in flight"):
            shared.get(PATH, [])
        assert len(server.requests) == 1  # the second never left
        release.set()
        first.result(timeout=5)


def test_an_answer_declared_too_large_is_refused_unread(server) -> None:
    server.behaviour = raw_http.huge(declared=30 * 1024 * 1024, send=256 * 1024)

    with pytest.raises(BadResponseError, match="too large"):
        transport(server.url).get(PATH, [])


def test_an_undeclared_answer_is_refused_past_the_cap(server) -> None:
    server.behaviour = raw_http.huge(declared=None, send=MAX_ANSWER_BYTES + 256 * 1024)

    with pytest.raises(BadResponseError, match="too large"):
        transport(server.url).get(PATH, [])


def test_a_short_body_is_reported_as_cut_short(server) -> None:
    server.behaviour = raw_http.short(b'{"count": 3, "jo', declared=400)

    with pytest.raises(UnavailableError) as raised:
        transport(server.url).get(PATH, [])

    assert "cut short" in raised.value.message
    assert "cannot reach" not in str(raised.value)


def test_a_reset_before_the_answer_is_reported_as_a_reset(server) -> None:
    server.behaviour = raw_http.reset()

    with pytest.raises(UnavailableError) as raised:
        transport(server.url).get(PATH, [])

    assert "reset" in raised.value.message or "closed the connection" in raised.value.message
    assert "cannot reach" not in str(raised.value)


def test_a_reset_mid_answer_is_reported_as_such(server) -> None:
    server.behaviour = raw_http.reset(after=raw_http._head(200, 500) + b'{"count"')

    with pytest.raises(UnavailableError) as raised:
        transport(server.url).get(PATH, [])

    assert "reset the connection mid-answer" in raised.value.message
    assert raised.value.request_id == "req-raw-1"


def test_nothing_listening_is_still_cannot_reach(server) -> None:
    url = server.url
    server.close()

    with pytest.raises(UnavailableError, match="cannot reach"):
        transport(url).get(PATH, [])


@pytest.mark.parametrize("body, problem", [
    ({"count": 500, "jobs": "oops"}, "'jobs' is a str"),
    ({"count": 500, "jobs": {"a": 1}}, "'jobs' is a dict"),
    ({"count": 1, "jobs": [1, 2]}, "other than job objects"),
    ({"count": "many", "jobs": []}, "'count' is 'many'"),
    ({"count": 101, "jobs": [{"job_id": f"j{i}"} for i in range(101)]}, "101 jobs on one page"),
])
def test_a_malformed_200_is_reported_as_malformed_with_its_request_id(server, body, problem):
    server.behaviour = raw_http.ok(body)

    with pytest.raises(BadResponseError) as raised:
        client(server.url).list_jobs(JobQuery())

    assert problem in raised.value.message
    shown = upstream_error_reply(raised.value, doing="list jobs").text
    assert "malformed" in shown and "req-raw-1" in shown
    assert "HTTP 200" not in shown


def test_malformed_json_is_not_shown_as_http_200(server) -> None:
    server.behaviour = raw_http.ok(b'{"count": 3, "jobs": [{"job_id": "trunc')

    with pytest.raises(BadResponseError) as raised:
        client(server.url).list_jobs(JobQuery())

    shown = upstream_error_reply(raised.value, doing="list jobs").text
    assert "malformed" in shown and "req-raw-1" in shown and "HTTP 200" not in shown


@pytest.mark.parametrize("auth", [TokenAuth(TOKEN), AkSkAuth(AK, SK, PROJECT_ID)],
                         ids=["token", "aksk"])
def test_every_auth_encodes_a_space_as_percent_20(server, auth) -> None:
    transport(server.url, auth=auth).get(PATH, [("asset_name", "Launch teaser+v2")])

    [line] = server.requests
    assert "asset_name=Launch%20teaser%2Bv2" in line


def test_a_full_page_of_100_jobs_is_not_malformed(server) -> None:
    jobs = [{"job_id": f"j{i}", "state": "SUCCEED"} for i in range(100)]
    server.behaviour = raw_http.ok({"count": 100, "jobs": jobs})

    assert len(client(server.url).list_jobs(JobQuery(limit=100)).jobs) == 100


def test_retry_waits_are_jittered_and_capped() -> None:
    policy = RetryPolicy(retries=3, backoff_factor=0.1, budget=3.0)
    retry = build_retry(policy).new(history=(RequestHistory("GET", "/", None, 503, None),) * 2)

    waits = {retry.get_backoff_time() for _ in range(50)}

    assert len(waits) > 1  # not every process retries at the same instant
    assert all(0.2 <= w <= 0.3 for w in waits)  # 0.1 * 2^1, plus up to 0.1 of jitter
