"""The transport (bot/metastudio/transport.py): the exact error each kind of answer or
failure gives (message, status, request id), the answer-size limits at their edges,
compressed answers, the deadline on an injected clock, the connection pool and the
concurrency limit, the retry configuration and its time budget, and the metric and log
line of every request. tests/fakes/raw_http.py scripts the answers over loopback;
timeouts are small. (test_transport_faults.py drives the byte-by-byte failures.)"""

from __future__ import annotations

import gzip
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests
from prometheus_client import REGISTRY
from requests.auth import HTTPBasicAuth

from bot.metastudio.auth import AkSkAuth, TokenAuth
from bot.metastudio.errors import (
    AuthError,
    BadResponseError,
    ClockSkewError,
    MetaStudioError,
    ThrottledError,
    UnavailableError,
)
from bot.metastudio.transport import RetryPolicy, Timeouts, Transport, build_retry
from tests.fakes import raw_http
from tests.fixtures.metastudio import AK, PROJECT_ID, SK, TOKEN

NO_RETRY = RetryPolicy(retries=0, budget=0)
PATH = f"/v1/{PROJECT_ID}/digital-human-videos"


def transport(url: str, *, auth=None, retry: RetryPolicy = NO_RETRY, read: float = 2.0,
              deadline: float = 5.0, **kw) -> Transport:
    return Transport(url, auth or TokenAuth(TOKEN), retry=retry,
                     timeouts=Timeouts(connect=1.0, read=read, deadline=deadline), **kw)


def answer(status: int, body: bytes | dict, **headers: str) -> raw_http.Behaviour:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def behave(conn) -> None:
        conn.sendall(raw_http._head(status, len(raw), **headers) + raw)

    return behave


def failure(server, *, auth=None, **kw) -> MetaStudioError:
    with pytest.raises(MetaStudioError) as raised:
        transport(server.url, auth=auth, **kw).get(PATH, [])
    return raised.value


def requests_total(status: str) -> float:
    return REGISTRY.get_sample_value("videojobs_upstream_requests_total",
                                     {"status": status}) or 0.0


ERROR_BODY = {"error_code": "MSS.1", "error_msg": "nope"}


# -- error answers -----------------------------------------------------------------------


def test_a_429_is_throttled_with_the_servers_retry_after_and_fields(server) -> None:
    server.behaviour = answer(429, ERROR_BODY, Retry_After="7")

    e = failure(server)

    assert isinstance(e, ThrottledError)
    assert (e.message, e.retry_after) == ("MetaStudio is throttling requests", 7.0)
    assert (e.status, e.error_code, e.error_msg, e.request_id) == (
        429, "MSS.1", "nope", "req-raw-1")


def test_another_status_is_named_with_its_number(server) -> None:
    server.behaviour = answer(503, ERROR_BODY)

    e = failure(server)

    assert isinstance(e, UnavailableError)
    assert (e.message, e.status, e.request_id) == ("MetaStudio answered HTTP 503", 503,
                                                   "req-raw-1")


def test_a_401_without_named_credentials_says_the_credentials(server) -> None:
    server.behaviour = answer(401, ERROR_BODY)

    e = failure(server, auth=HTTPBasicAuth("u", "p"))

    assert isinstance(e, AuthError) and not isinstance(e, ClockSkewError)
    assert e.message == "MetaStudio refused the credentials: check the credentials"


@pytest.mark.parametrize(("off", "skewed"), [(timedelta(minutes=10), False),
                                             (timedelta(minutes=45), True)])
def test_clock_skew_is_named_past_ten_minutes(server, off, skewed) -> None:
    server_time = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    server.behaviour = answer(401, ERROR_BODY, Date=format_datetime(server_time, usegmt=True))
    auth = AkSkAuth(AK, SK, PROJECT_ID, clock=lambda: server_time + off)

    e = failure(server, auth=auth)

    assert isinstance(e, ClockSkewError) is skewed
    if skewed:
        assert e.message == ("MetaStudio refused the signature and this machine's clock is "
                             "45 min off the server's: check the clock")
        assert (e.status, e.error_code, e.request_id) == (401, "MSS.1", "req-raw-1")


@pytest.mark.parametrize("status", [300, 199])
def test_only_a_2xx_is_an_answer(server, status) -> None:
    server.behaviour = answer(status, {"count": 0, "jobs": []})

    assert failure(server).status == status


def test_a_redirect_is_not_followed(server) -> None:
    server.behaviour = answer(302, b"", Location=f"{server.url}/elsewhere")

    assert failure(server).status == 302
    assert len(server.requests) == 1


def test_an_answer_keeps_its_status_and_request_id(server) -> None:
    server.behaviour = answer(203, {"count": 0})

    got = transport(server.url).get(PATH, [])

    assert (got.body, got.status, got.request_id) == ({"count": 0}, 203, "req-raw-1")


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>", "MetaStudio's answer was malformed: not JSON"),
    (b"[1, 2]", "MetaStudio's answer was malformed: a JSON list, not an object"),
])
def test_a_2xx_that_is_no_json_object_says_what_it_was(server, body, message) -> None:
    server.behaviour = answer(200, body)

    e = failure(server)

    assert isinstance(e, BadResponseError)
    assert (e.message, e.request_id) == (message, "req-raw-1")


# -- sizes and encodings -----------------------------------------------------------------


def test_an_answer_of_exactly_the_limit_is_read(server) -> None:
    body = json.dumps({"count": 0, "pad": "x" * 20}).encode()
    server.behaviour = answer(200, body)
    assert transport(server.url, max_answer_bytes=len(body)).get(PATH, []).body["count"] == 0

    server.behaviour = raw_http.drip(body, every=0, declare=False)
    assert transport(server.url, max_answer_bytes=len(body)).get(PATH, []).body["count"] == 0


def test_too_large_answers_keep_the_request_id(server) -> None:
    body = json.dumps({"count": 0, "pad": "x" * 20}).encode()
    server.behaviour = answer(200, body)
    declared = failure(server, max_answer_bytes=len(body) - 1)
    assert declared.message == (f"MetaStudio's answer was too large ({len(body)} bytes; at "
                                f"most {len(body) - 1} expected)")
    assert declared.request_id == "req-raw-1"

    server.behaviour = raw_http.drip(body, every=0, declare=False)
    undeclared = failure(server, max_answer_bytes=len(body) - 1)
    assert undeclared.message == (f"MetaStudio's answer was too large (more than "
                                  f"{len(body) - 1} bytes)")
    assert undeclared.request_id == "req-raw-1"


def test_a_compressed_answer_is_decompressed(server) -> None:
    server.behaviour = answer(200, gzip.compress(b'{"count": 4, "jobs": []}'),
                              Content_Encoding="gzip")

    assert transport(server.url).get(PATH, []).body == {"count": 4, "jobs": []}


# -- deadlines and broken answers --------------------------------------------------------


class ScriptedClock:
    """Answers the given readings in turn, then the last one for ever."""

    def __init__(self, *readings: float) -> None:
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def test_a_read_cut_to_the_deadline_ends_as_late(server) -> None:
    # Readings: the start (deadline 5.0), the read timeout (0.2 s left), the watchdog
    # (5 s: it never fires), then the clock at the failed read: exactly the deadline.
    server.behaviour = raw_http.stall(10)
    clock = ScriptedClock(0.0, 4.8, 0.0, 5.0)

    started = time.monotonic()
    e = failure(server, read=3.0, deadline=5.0, clock=clock)

    assert time.monotonic() - started < 2.0
    assert (e.message, e.request_id) == (
        "MetaStudio's answer was still arriving after 5 s; gave up", "req-raw-1")


def test_a_read_timeout_before_the_deadline_says_so(server) -> None:
    server.behaviour = raw_http.stall(10)

    e = failure(server, read=0.2, deadline=5.0)

    assert isinstance(e, UnavailableError)
    assert (e.message, e.request_id) == (
        "MetaStudio stopped sending its answer (read timeout)", "req-raw-1")


def test_an_undeclared_answer_ended_by_the_deadline_keeps_the_request_id(server) -> None:
    server.behaviour = raw_http.drip(b'{"count": 0}' + b" " * 1000, every=0.05,
                                     declare=False)

    e = failure(server, deadline=0.3)

    assert e.request_id == "req-raw-1" and "still arriving" in e.message


@pytest.mark.parametrize(("behaviour", "message"), [
    (raw_http.short(b'{"count": 3, "jo', declared=400),
     "MetaStudio's answer was cut short (the connection closed mid-answer)"),
    (raw_http.reset(after=raw_http._head(200, 500) + b'{"count"'),
     "MetaStudio reset the connection mid-answer"),
])
def test_broken_answers_say_exactly_what_happened(server, behaviour, message) -> None:
    server.behaviour = behaviour

    assert failure(server).message == message


def test_no_answer_at_all_says_exactly_what_happened(server) -> None:
    server.behaviour = raw_http.reset()
    assert failure(server).message == "MetaStudio reset the connection"

    server.behaviour = lambda conn: None  # closed without a word
    assert failure(server).message == "MetaStudio closed the connection without answering"

    never = threading.Event()
    server.behaviour = raw_http.hold(never, raw_http.ok({}))  # no headers in time
    assert failure(server, read=0.2).message == "MetaStudio did not answer in time (ReadTimeout)"


def test_an_unusable_url_and_an_unreachable_one_are_told_apart(server) -> None:
    url = server.url
    server.close()
    assert failure(server).message == f"cannot reach MetaStudio at {url}"

    with pytest.raises(UnavailableError) as raised:
        transport("not-a-url").get(PATH, [])
    assert raised.value.message == "the request to MetaStudio failed (MissingSchema)"


# -- the base URL, the pool, the concurrency limit ---------------------------------------


def test_a_trailing_slash_of_the_base_url_is_dropped(server) -> None:
    transport(server.url + "/").get(PATH, [])

    assert server.requests == [f"GET {PATH} HTTP/1.1"]


def test_the_pool_holds_as_many_connections_as_may_be_in_flight(server) -> None:
    default = transport(server.url)
    small = transport(server.url, max_concurrency=3)

    assert default._slots._value == 64  # type: ignore[attr-defined]
    assert small.session.get_adapter(server.url + "/")._pool_maxsize == 3


def test_a_request_refused_for_want_of_a_slot_is_counted_and_said(server, caplog) -> None:
    release = threading.Event()
    server.behaviour = raw_http.hold(release, raw_http.ok({"count": 0}))
    shared = transport(server.url, deadline=5.0, max_concurrency=1)
    before = requests_total("error")
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(shared.get, PATH, [])
        while not server.requests:
            release.wait(0.01)
        shared.timeouts = Timeouts(connect=1.0, read=5.0, deadline=0.2)
        with caplog.at_level(logging.INFO, logger="bot.metastudio.transport"), \
                pytest.raises(UnavailableError) as raised:
            shared.get(PATH, [])
        release.set()
        first.result(timeout=5)

    assert raised.value.message == ("too many MetaStudio requests in flight; none finished "
                                    "in time")
    assert requests_total("error") == before + 1
    assert any(f"GET {PATH} -> error" in r.getMessage() for r in caplog.records)


# -- the record of each request ----------------------------------------------------------


LINE = re.compile(r"MetaStudio GET (\S+) -> (\S+) in (\d+\.\d{3})s \(request id (\S+)\)")


def test_each_request_is_counted_and_logged_with_its_path_status_and_time(server,
                                                                         caplog) -> None:
    before_ok, before_error = requests_total("200"), requests_total("error")
    with caplog.at_level(logging.DEBUG, logger="bot.metastudio.transport"):
        transport(server.url).get(PATH, [])
        server.behaviour = raw_http.short(b'{"co', declared=100)
        failure(server)
        server.behaviour = answer(404, ERROR_BODY)
        failure(server)

    lines = [(r.levelno, LINE.fullmatch(r.getMessage())) for r in caplog.records]
    assert all(m is not None for _, m in lines), [r.getMessage() for r in caplog.records]
    assert [(level, m.group(1), m.group(2), m.group(4)) for level, m in lines] == [
        (logging.DEBUG, PATH, "200", "req-raw-1"),
        (logging.INFO, PATH, "error", "req-raw-1"),
        (logging.INFO, PATH, "404", "req-raw-1"),
    ]
    assert all(float(m.group(3)) < 5 for _, m in lines)
    assert requests_total("200") == before_ok + 1
    assert requests_total("error") == before_error + 1


def test_a_request_that_never_left_is_logged_as_an_error(server, caplog) -> None:
    url = server.url
    server.close()
    with caplog.at_level(logging.INFO, logger="bot.metastudio.transport"), \
            pytest.raises(UnavailableError):
        transport(url).get(PATH, [])

    [record] = caplog.records
    match = LINE.fullmatch(record.getMessage())
    assert match is not None and match.group(1, 2, 4) == (PATH, "error", "None")


# -- retries -----------------------------------------------------------------------------


def test_the_retry_configuration() -> None:
    retry = build_retry(RetryPolicy(retries=3, backoff_factor=0.25, budget=6.0))

    assert (retry.total, retry.connect, retry.read, retry.status) == (3, 3, False, 3)
    assert (retry.other, retry.redirect) == (0, 0)
    assert retry.allowed_methods == frozenset({"GET"})
    assert retry.status_forcelist == frozenset({429, 500, 502, 503, 504})
    assert (retry.backoff_factor, retry.backoff_max, retry.backoff_jitter) == (0.25, 2.0, 0.25)
    assert retry.budget == 6.0  # type: ignore[attr-defined]
    assert retry.respect_retry_after_header is True
    assert retry.raise_on_status is False and retry.raise_on_redirect is False

    none = build_retry(RetryPolicy(retries=0, budget=5.0))
    assert (none.total, none.backoff_max) == (0, 0)


def test_no_retries_means_one_request(server) -> None:
    server.behaviour = answer(503, ERROR_BODY)

    failure(server)

    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_each_retried_status_is_retried(server, status) -> None:
    server.behaviour = answer(status, ERROR_BODY, Retry_After="0")

    e = failure(server, retry=RetryPolicy(retries=1, backoff_factor=0.001, budget=1.0))

    assert e.status == status and len(server.requests) == 2


def test_repeated_throttling_keeps_the_budget_of_the_whole_request(simulator) -> None:
    from bot.metastudio.client import MetaStudioClient
    from bot.metastudio.query import JobQuery

    # Retry-After 1 s fits a 1.15 s budget at first; after one capped wait (1.15 / 3 s)
    # it no longer fits what is left: two requests, then ThrottledError.
    simulator.faults.throttle(retry_after=1, times=10)
    client = MetaStudioClient(simulator.url, PROJECT_ID, TokenAuth(TOKEN),
                              retry=RetryPolicy(retries=3, backoff_factor=0.001, budget=1.15),
                              timeouts=Timeouts(connect=1.0, read=2.0))

    with pytest.raises(ThrottledError):
        client.list_jobs(JobQuery())

    assert [r.status for r in simulator.requests] == [429, 429]


def test_a_retried_request_keeps_its_budget_on_later_attempts(simulator) -> None:
    from bot.metastudio.client import MetaStudioClient
    from bot.metastudio.query import JobQuery

    simulator.faults.throttle(retry_after=0, times=2)
    client = MetaStudioClient(simulator.url, PROJECT_ID, TokenAuth(TOKEN),
                              retry=RetryPolicy(retries=3, backoff_factor=0.001, budget=1.0),
                              timeouts=Timeouts(connect=1.0, read=2.0))

    client.list_jobs(JobQuery())

    assert [r.status for r in simulator.requests] == [429, 429, 200]


def test_a_session_made_here_is_a_real_session(server) -> None:
    assert isinstance(transport(server.url).session, requests.Session)


# -- how failures are named, one by one ----------------------------------------------------
# The transport's own paths reach only some of these texts (a RetryError, for example,
# cannot happen while raise_on_status is False); the classifiers are checked directly.


@pytest.mark.parametrize(("error", "message"), [
    (requests.ConnectionError("Connection reset by peer"), "MetaStudio reset the connection"),
    (requests.ConnectionError("RemoteDisconnected('gone')"),
     "MetaStudio closed the connection without answering"),
    (requests.ConnectionError("Connection aborted."),
     "MetaStudio closed the connection without answering"),
    (requests.exceptions.RetryError("too many 503"), "MetaStudio kept failing; retries used up"),
    (requests.ConnectionError("Name does not resolve"),
     "cannot reach MetaStudio at https://ms.example"),
])
def test_no_answer_names_each_failure(error, message) -> None:
    from bot.metastudio.transport import _no_answer

    e = _no_answer(error, "https://ms.example", request_id="r-1")

    assert (e.message, e.request_id) == (message, "r-1")


def test_a_broken_answer_that_timed_out_is_named_so() -> None:
    from bot.metastudio.transport import _broken_answer

    e = _broken_answer(OSError("timed out"), "r-2")

    assert (e.message, e.request_id) == (
        "MetaStudio stopped sending its answer (read timeout)", "r-2")


@pytest.mark.parametrize("error", [ValueError, RuntimeError, OSError])
def test_the_watchdog_ignores_an_answer_already_closed(error) -> None:
    from types import SimpleNamespace

    from bot.metastudio.transport import _expire

    def shutdown() -> None:
        raise error("already closed")

    expired = threading.Event()
    _expire(SimpleNamespace(raw=SimpleNamespace(shutdown=shutdown)), expired)  # type: ignore[arg-type]

    assert expired.is_set()
