"""IAM login against a scripted IAM on loopback: the request it receives, and every kind
of answer (refusals, server errors, a missing token header, odd expiry times, no IAM at
all). The simulator's IAM covers the happy path and a wrong password (test_iam.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
import requests

from bot.metastudio.auth import IamPasswordAuth
from bot.metastudio.errors import AuthError, BadResponseError, NotFoundError, UnavailableError

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@dataclass
class ScriptedIam:
    """Answers POST /v3/auth/tokens with ``status``, ``headers`` and ``body``; keeps what
    it received."""

    url: str = ""
    status: int = 201
    headers: dict[str, str] = field(default_factory=lambda: {"X-Subject-Token": "TOKEN-1"})
    body: Any = field(default_factory=lambda: {"token": {"expires_at": "2026-11-25T10:00:00Z"}})
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def iam() -> Iterator[ScriptedIam]:
    script = ScriptedIam()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            script.received.append((self.path, json.loads(self.rfile.read(length))))
            body = script.body
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(script.status)
            for name, value in {"X-Request-Id": "iam-req-1", **script.headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield script
    server.shutdown()
    server.server_close()


def auth_for(iam: ScriptedIam, *, endpoint: str | None = None, **kw: Any) -> IamPasswordAuth:
    return IamPasswordAuth(endpoint or iam.url, "bob", "pw", "acme", "proj-1",
                           clock=kw.pop("clock", lambda: NOW), **kw)


def test_the_login_request_is_the_password_method_scoped_to_the_project(iam, caplog):
    caplog.set_level("INFO", logger="bot.metastudio.auth")
    auth = auth_for(iam, endpoint=iam.url + "/")
    assert auth.url == iam.url + "/v3/auth/tokens"
    assert auth.token() == "TOKEN-1"
    assert caplog.messages == ["IAM login as bob@acme; token expires 2026-11-25 10:00:00+00:00"]
    [(path, body)] = iam.received
    assert path == "/v3/auth/tokens"  # a trailing "/" on the endpoint is not doubled
    assert body == {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "bob", "password": "pw", "domain": {"name": "acme"}}}},
        "scope": {"project": {"id": "proj-1"}},
    }}


def test_requests_carry_the_token_and_the_app_user(iam):
    auth = auth_for(iam, app_user_id="app-user-7")
    request = requests.Request("GET", "http://metastudio.test/v1/p/x").prepare()
    auth(request)
    assert request.headers["X-Auth-Token"] == "TOKEN-1"
    assert request.headers["X-App-UserId"] == "app-user-7"


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_refused_login_names_the_settings_with_iams_own_error(iam, status):
    iam.status = status
    iam.body = {"error": {"code": status, "message": "The username or password is wrong."}}
    with pytest.raises(AuthError) as raised:
        auth_for(iam).token()
    error = raised.value
    assert error.message == ("IAM refused the login: check METASTUDIO_IAM_USER, "
                             "METASTUDIO_IAM_PASSWORD and METASTUDIO_IAM_DOMAIN")
    assert (error.status, error.error_code, error.error_msg, error.request_id) == (
        status, str(status), "The username or password is wrong.", "iam-req-1")


@pytest.mark.parametrize(("status", "kind"), [(404, NotFoundError), (500, UnavailableError),
                                              (503, UnavailableError)])
def test_another_failure_keeps_its_status_code_and_message(iam, status, kind):
    iam.status = status
    iam.body = {"error_code": "IAM.0001", "error_msg": "broken"}
    with pytest.raises(kind) as raised:
        auth_for(iam).token()
    error = raised.value
    assert not isinstance(error, AuthError)
    assert (error.message, error.status, error.error_code, error.error_msg, error.request_id) == (
        "IAM login failed", status, "IAM.0001", "broken", "iam-req-1")


def test_an_answer_without_the_token_header_points_at_the_endpoint(iam):
    iam.headers = {}
    with pytest.raises(BadResponseError) as raised:
        auth_for(iam).token()
    error = raised.value
    assert error.message == (
        "IAM answered without an X-Subject-Token header: check METASTUDIO_IAM_ENDPOINT")
    assert (error.status, error.request_id) == (None, "iam-req-1")  # a 2xx is not shown


def test_no_iam_at_all_is_unavailable_and_names_the_url():
    auth = IamPasswordAuth("http://127.0.0.1:9", "bob", "pw", "acme", "proj-1",
                           timeout=(0.5, 0.5))
    with pytest.raises(UnavailableError) as raised:
        auth.token()
    assert raised.value.message == "cannot reach IAM at http://127.0.0.1:9/v3/auth/tokens"


def test_a_slow_iam_times_out_after_the_given_timeout(iam, mocker):
    post = mocker.spy(requests.Session, "post")
    auth_for(iam, timeout=(1.5, 4.0)).token()
    seen = [call.kwargs.get("timeout") for call in post.call_args_list]
    assert seen == [(1.5, 4.0)]


@pytest.mark.parametrize(
    ("expires_at", "renewal"),
    [
        ("2026-11-25T10:00:00Z", NOW + timedelta(hours=23)),  # an hour before expiry
        ("2026-11-25T10:00:00.000000Z", NOW + timedelta(hours=23)),
        ("2026-11-25T10:00:00", NOW + timedelta(hours=23)),  # no offset: UTC
        ("2026-11-25T18:00:00+08:00", NOW + timedelta(hours=23)),
        ("2026-11-24T10:30:00Z", NOW + timedelta(minutes=27)),  # a tenth of a short life
        ("not a time", NOW + timedelta(hours=23)),  # unreadable: 24 h assumed
    ],
)
def test_the_token_is_renewed_by_its_expiry_time(iam, expires_at, renewal):
    iam.body = {"token": {"expires_at": expires_at}}
    clock = [NOW]
    auth = auth_for(iam, clock=lambda: clock[0])
    auth.token()
    clock[0] = renewal - timedelta(seconds=1)
    auth.token()
    assert len(iam.received) == 1
    clock[0] = renewal  # renewal is due at that very moment
    auth.token()
    assert len(iam.received) == 2


def test_an_answer_without_a_json_body_assumes_24_hours(iam, caplog):
    iam.body = b"<html>ok</html>"
    clock = [NOW]
    auth = auth_for(iam, clock=lambda: clock[0])
    auth.token()
    clock[0] = NOW + timedelta(hours=23) - timedelta(seconds=1)
    auth.token()
    assert len(iam.received) == 1
    assert "IAM answer has no readable token.expires_at; assuming 24 h" in caplog.messages
