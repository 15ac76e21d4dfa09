"""IAM password login against the simulator's POST /v3/auth/tokens."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bot.metastudio.auth import IamPasswordAuth, utc_now
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.errors import AuthError
from bot.metastudio.query import JobQuery
from tests.fixtures.metastudio import FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID


@pytest.fixture
def iam_simulator(simulator):
    simulator.iam_users = {("bob", "acme"): "pw"}
    return simulator


def iam_client(simulator, password="pw", clock=None) -> tuple[MetaStudioClient, IamPasswordAuth]:
    auth = IamPasswordAuth(
        simulator.url, "bob", password, "acme", PROJECT_ID, clock=clock or utc_now
    )
    client = MetaStudioClient(
        simulator.url, PROJECT_ID, auth, retry=FAST_RETRY, timeouts=FAST_TIMEOUTS
    )
    return client, auth


def test_one_login_serves_many_concurrent_requests(iam_simulator):
    iam_simulator.faults.latency = 0.1
    client, auth = iam_client(iam_simulator)
    errors: list[Exception] = []

    def call() -> None:
        try:
            client.list_jobs(JobQuery())
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert errors == []
    assert auth.logins == 1
    list_requests = [r for r in iam_simulator.requests if r.method == "GET"]
    assert len(list_requests) == 20
    assert all(r.status == 200 for r in list_requests)


def test_the_token_is_renewed_before_it_expires(iam_simulator):
    iam_simulator.iam_token_ttl = 1000
    now = [datetime.now(UTC)]
    client, auth = iam_client(iam_simulator, clock=lambda: now[0])

    client.list_jobs(JobQuery())
    now[0] += timedelta(seconds=850)
    client.list_jobs(JobQuery())
    assert auth.logins == 1

    now[0] += timedelta(seconds=60)  # 90 s left: under a tenth of the lifetime
    client.list_jobs(JobQuery())
    assert auth.logins == 2


def test_a_wrong_password_names_the_settings_and_calls_no_api(iam_simulator):
    client, _ = iam_client(iam_simulator, password="PW-WRONG")

    with pytest.raises(AuthError) as raised:
        client.list_jobs(JobQuery())

    message = str(raised.value)
    assert "METASTUDIO_IAM_PASSWORD" in message
    assert "METASTUDIO_IAM_USER" in message
    assert "PW-WRONG" not in message
    assert raised.value.status == 401
    assert not [r for r in iam_simulator.requests if r.method == "GET"]


def test_a_refused_token_is_dropped_and_the_next_request_logs_in_again(iam_simulator):
    # The bot's clock stands still: it believes the token valid for 24 hours more. The
    # server stops accepting it (revoked, or expired by the server's reckoning).
    now = datetime.now(UTC)
    client, auth = iam_client(iam_simulator, clock=lambda: now)
    client.list_jobs(JobQuery())
    iam_simulator.advance(25 * 3600)

    with pytest.raises(AuthError) as raised:
        client.list_jobs(JobQuery())
    assert raised.value.status == 401
    assert auth.logins == 1  # the refused request itself is not retried

    client.list_jobs(JobQuery())
    assert auth.logins == 2
    statuses = [r.status for r in iam_simulator.requests if r.method == "GET"]
    assert statuses == [200, 401, 200]


def test_a_token_refused_after_a_renewal_does_not_drop_the_new_one(iam_simulator):
    """A late 401 for an old token must not throw away the token that replaced it."""
    now = [iam_simulator.now()]
    _, auth = iam_client(iam_simulator, clock=lambda: now[0])
    old = auth.token()
    now[0] += timedelta(hours=23.5)  # past the renewal point (an hour before expiry)
    iam_simulator.advance(23.5 * 3600)
    new = auth.token()
    assert new != old and auth.logins == 2

    hook = auth._forget_refused(old)
    refused = requests.Response()
    refused.status_code = 401
    hook(refused)
    assert auth.token() == new and auth.logins == 2
