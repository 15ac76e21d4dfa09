"""A temporary AK/SK (an ECS/CCE agency's) and its security token, against the
simulator's gateway: every request carries the token, signed; once the token expires,
MetaStudio's 401 becomes an error that names the variable to refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.metastudio.auth import AkSkAuth
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.errors import AuthError
from bot.metastudio.operations import JobOperations
from bot.metastudio.query import JobQuery
from bot.metastudio.signing import parse_authorization
from bot.simulator import Simulator
from tests.fixtures.metastudio import AK, FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID, SK

SECURITY_TOKEN = "gQpjbi1ub3J0aC00temporary-security-token-value"


@pytest.fixture
def temporary(simulator: Simulator) -> Simulator:
    """The simulator's AK/SK are a temporary pair, valid with SECURITY_TOKEN for a minute
    (the gateway's clock, not the signer's, decides: moving it past 15 minutes would
    make every signature stale instead)."""
    simulator.gatekeeper.security_token = SECURITY_TOKEN
    simulator.gatekeeper.security_token_expires = simulator.now() + timedelta(minutes=1)
    return simulator


def client(sim: Simulator, token: str | None = SECURITY_TOKEN) -> MetaStudioClient:
    return MetaStudioClient(sim.url, PROJECT_ID,
                            AkSkAuth(AK, SK, PROJECT_ID, security_token=token),
                            retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)


def test_every_request_carries_the_security_token_signed(temporary: Simulator) -> None:
    job = temporary.add_job(state="WAITING")

    assert client(temporary).list_jobs(JobQuery()).count == 1
    operations = JobOperations.of(client(temporary))
    assert operations is not None
    operations.cancel(job, photo=False)  # a POST, signed the same way

    assert [r.status for r in temporary.requests] == [200, 200]
    for request in temporary.requests:
        assert request.headers["X-Security-Token"] == SECURITY_TOKEN
        assert "x-security-token" in parse_authorization(request.headers["Authorization"])[1]


def test_without_the_token_a_temporary_aksk_is_refused(temporary: Simulator) -> None:
    with pytest.raises(AuthError) as raised:
        client(temporary, token=None).list_jobs(JobQuery())

    assert "METASTUDIO_AK / METASTUDIO_SK" in str(raised.value)


def test_an_expired_token_is_an_error_naming_the_variable_to_refresh(
        temporary: Simulator, sim_clock) -> None:
    metastudio = client(temporary)
    metastudio.list_jobs(JobQuery())
    sim_clock.advance(2 * 60)

    with pytest.raises(AuthError) as raised:
        metastudio.list_jobs(JobQuery())

    error = raised.value
    assert (error.status, error.error_code) == (401, "APIGW.0307")
    assert str(error).startswith(
        "MetaStudio refused the credentials: check METASTUDIO_SECURITY_TOKEN (temporary "
        "credentials expire: refresh it together with METASTUDIO_AK / METASTUDIO_SK")
    assert "The token must be updated." in str(error)
    assert SECURITY_TOKEN not in str(error)
    assert len(temporary.requests) == 2  # a 401 is never retried
