"""POSTs through the transport: a write (a create) is sent once and, when no answer says
what became of it, fails as InDoubtError; a connection never made, a 4xx and the
gateway's 429 are the usual errors. A POST on a path named in ``retry_posts`` (a read,
like the asset summary) is retried like a GET. tests/fakes/raw_http.py scripts the
odd answers (tests/metastudio/test_assets.py signs a body against the simulator)."""

from __future__ import annotations

import json
import threading

import pytest
import requests
import urllib3

from bot.metastudio.auth import TokenAuth
from bot.metastudio.errors import (
    AuthError,
    BadRequestError,
    InDoubtError,
    MetaStudioError,
    NotFoundError,
    ThrottledError,
    UnavailableError,
)
from bot.metastudio.transport import RetryPolicy, Timeouts, Transport, _never_sent
from tests.fakes import raw_http
from tests.fixtures.metastudio import PROJECT_ID, TOKEN

PATH = f"/v1/{PROJECT_ID}/2d-digital-human-videos"
READ_PATH = f"/v1/{PROJECT_ID}/digital-assets/summarys"
RETRY = RetryPolicy(retries=3, backoff_factor=0.001, budget=1.0)
ERROR_BODY = {"error_code": "MSS.1", "error_msg": "nope"}


def transport(url: str, *, read: float = 2.0, **kw) -> Transport:
    return Transport(url, TokenAuth(TOKEN), retry=RETRY,
                     timeouts=Timeouts(connect=1.0, read=read, deadline=5.0), **kw)


def answer(status: int, body: bytes | dict, **headers: str) -> raw_http.Behaviour:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    def behave(conn) -> None:
        conn.sendall(raw_http._head(status, len(raw), **headers) + raw)

    return behave


def post_failure(server, path: str = PATH, **kw) -> MetaStudioError:
    with pytest.raises(MetaStudioError) as raised:
        transport(server.url, **kw).post(path, {"a": 1})
    return raised.value


# -- writes ------------------------------------------------------------------------------


def test_a_write_answered_2xx_gives_its_json_and_request_id(server) -> None:
    server.behaviour = answer(200, {"job_id": "j-1"})

    got = transport(server.url).post(PATH, {"output_asset_config": {"asset_name": "x"}})

    assert (got.body, got.status, got.request_id) == ({"job_id": "j-1"}, 200, "req-raw-1")
    assert server.requests == [f"POST {PATH} HTTP/1.1"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_write_answered_5xx_is_in_doubt_and_sent_once(server, status) -> None:
    server.behaviour = answer(status, ERROR_BODY, Retry_After="0")

    e = post_failure(server)

    assert isinstance(e, InDoubtError)
    assert (e.status, e.error_code, e.error_msg, e.request_id) == (
        status, "MSS.1", "nope", "req-raw-1")
    assert e.message == f"MetaStudio answered HTTP {status}: MetaStudio may have done it, or not"
    assert len(server.requests) == 1


@pytest.mark.parametrize(("status", "kind"), [
    (400, BadRequestError), (401, AuthError), (404, NotFoundError), (429, ThrottledError)])
def test_a_refused_write_is_not_in_doubt(server, status, kind) -> None:
    server.behaviour = answer(status, ERROR_BODY, Retry_After="0")

    e = post_failure(server)

    assert type(e) is kind and e.status == status
    assert len(server.requests) == 1  # a 429 to a write is not retried either


def test_a_write_that_gets_no_answer_in_time_is_in_doubt(server) -> None:
    never = threading.Event()
    server.behaviour = raw_http.hold(never, raw_http.ok({}))

    e = post_failure(server, read=0.2)

    assert isinstance(e, InDoubtError)
    assert e.message == ("MetaStudio did not answer in time (ReadTimeout): "
                         "MetaStudio may have done it, or not")
    assert len(server.requests) == 1
    never.set()


@pytest.mark.parametrize("behaviour", [
    raw_http.reset(), lambda conn: None, raw_http.stall(0.5),
    raw_http.short(b'{"job_id"', 100)])
def test_a_write_cut_off_after_sending_is_in_doubt(server, behaviour) -> None:
    server.behaviour = behaviour

    assert isinstance(post_failure(server, read=0.2), InDoubtError)
    assert len(server.requests) == 1


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b"[]"])
def test_a_2xx_write_that_is_no_json_object_is_in_doubt(server, body) -> None:
    server.behaviour = answer(200, body)

    e = post_failure(server)

    assert isinstance(e, InDoubtError) and e.request_id == "req-raw-1"


def test_a_write_that_never_left_is_not_in_doubt(server) -> None:
    url = server.url
    server.close()

    with pytest.raises(UnavailableError) as raised:
        transport(url).post(PATH, {})

    assert not isinstance(raised.value, InDoubtError) and raised.value.sent is False
    assert raised.value.message == f"cannot reach MetaStudio at {url}"

    with pytest.raises(UnavailableError) as raised:
        transport("not-a-url").post(PATH, {})
    assert not isinstance(raised.value, InDoubtError)


# -- reads sent as POST ------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_read_post_is_retried_like_a_get_and_never_in_doubt(server, status) -> None:
    server.behaviour = answer(status, ERROR_BODY, Retry_After="0")

    e = post_failure(server, READ_PATH, retry_posts=(READ_PATH,))

    assert not isinstance(e, InDoubtError) and e.status == status
    assert server.requests == [f"POST {READ_PATH} HTTP/1.1"] * 4  # 1 + RETRY.retries


def test_only_the_named_paths_are_retried(server) -> None:
    server.behaviour = answer(503, ERROR_BODY)

    e = post_failure(server, PATH, retry_posts=(READ_PATH,))

    assert isinstance(e, InDoubtError) and len(server.requests) == 1


def test_a_read_post_that_times_out_is_not_in_doubt(server) -> None:
    server.behaviour = raw_http.stall(0.5)

    e = post_failure(server, READ_PATH, read=0.2, retry_posts=(READ_PATH,))

    assert isinstance(e, UnavailableError) and not isinstance(e, InDoubtError)


# -- sent or not: each failure requests can report ------------------------------------------


def _refused_connection() -> requests.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


def _connect_timeout_after_retries() -> requests.ConnectionError:
    reason = urllib3.exceptions.ConnectTimeoutError(None, "timed out")
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/", reason))


@pytest.mark.parametrize(("error", "never_sent"), [
    (requests.ConnectTimeout(), True),
    (_refused_connection(), True),
    (_connect_timeout_after_retries(), True),
    (requests.exceptions.MissingSchema(), True),
    (requests.ReadTimeout(), False),
    (requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.")), False),
    (requests.ConnectionError(), False),
])
def test_whether_a_failed_request_left(error, never_sent) -> None:
    assert _never_sent(error) is never_sent
