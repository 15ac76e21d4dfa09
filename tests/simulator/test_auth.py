"""Authentication as the gateway does it: a token, or an AK/SK signature checked
here against requests signed by Huawei's official ``huaweicloudsdkcore`` signer."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from tests.fixtures.simulator import LIST_PATH, SIM_AK, SIM_PROJECT, SIM_SK, SIM_TOKEN

UNAUTHORIZED = "MSS.00000001"
GATEWAY_REFUSED = "APIGW.0301"


def test_the_configured_token_is_accepted(sim_api):
    assert sim_api.list(token=SIM_TOKEN).status_code == 200


def test_a_wrong_token_is_401(sim_api):
    response = sim_api.list(token="TOKEN-WRONG")

    assert response.status_code == 401
    assert response.json()["error_code"] == UNAUTHORIZED
    assert response.headers["X-Request-Id"]


def test_no_credentials_at_all_is_401(sim_api):
    response = sim_api.list(token=None)

    assert response.status_code == 401
    assert response.json()["error_code"] == UNAUTHORIZED


def test_a_request_signed_by_the_official_signer_is_accepted(simulator, sim_api):
    simulator.add_job("signed-job")

    response = sim_api.signed([("limit", "10"), ("state", "WAITING,PROCESSING")])

    assert response.status_code == 200
    assert [job["job_id"] for job in response.json()["jobs"]] == ["signed-job"]


def test_repeated_job_ids_pairs_verify(simulator, sim_api):
    first, second = simulator.add_job(), simulator.add_job()

    response = sim_api.signed([("job_ids", second), ("job_ids", first)])

    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_values_needing_percent_encoding_verify(simulator, sim_api):
    simulator.add_job(asset_name="Q3 update: a~b+c/d (EN)")

    response = sim_api.signed([("asset_name", "Q3 update: a~b+c/d (EN)")])

    assert response.status_code == 200
    assert response.json()["count"] == 1


def test_a_wrong_secret_key_is_the_gateways_401(sim_api):
    response = sim_api.signed(sk="SK-WRONG")

    assert response.status_code == 401
    assert response.json()["error_code"] == GATEWAY_REFUSED
    assert response.headers["X-Request-Id"]


def test_an_unknown_access_key_is_the_gateways_401(sim_api):
    response = sim_api.signed(ak="AK-OTHER")

    assert response.status_code == 401
    assert response.json()["error_code"] == GATEWAY_REFUSED


def test_a_tampered_query_no_longer_verifies(simulator, sim_api):
    signed = sim_api.signed([("limit", "10")]).request

    response = sim_api.session.get(
        signed.url.replace("limit=10", "limit=99"), headers=dict(signed.headers)
    )

    assert response.status_code == 401
    assert response.json()["error_code"] == GATEWAY_REFUSED


def test_an_x_sdk_date_over_15_minutes_off_is_refused_as_expired(simulator, sim_api):
    response = sim_api.signed(sdk_date=simulator.now() - timedelta(minutes=16))

    assert response.status_code == 401
    assert response.json()["error_code"] == GATEWAY_REFUSED
    assert "expired" in response.json()["error_msg"]


def test_an_x_sdk_date_within_15_minutes_is_fine(simulator, sim_api):
    assert sim_api.signed(sdk_date=simulator.now() - timedelta(minutes=14)).status_code == 200


def test_the_date_header_shows_the_simulated_clock(sim_api, sim_clock):
    sim_clock.advance(3600)

    served = parsedate_to_datetime(sim_api.list().headers["Date"])

    assert served == sim_clock()


def test_a_method_not_configured_is_refused(serve_simulator):
    token_only = serve_simulator(token="ONLY-TOKEN")

    response = token_only.signed()

    assert response.status_code == 401
    assert response.json()["error_code"] == GATEWAY_REFUSED


def test_without_any_credentials_configured_everything_passes(serve_simulator):
    demo = serve_simulator()

    assert demo.list(token=None).status_code == 200
    assert demo.list(token="anything").status_code == 200


# -- a temporary AK/SK: its X-Security-Token, signed, matching, unexpired ------------------

SECURITY_TOKEN = "gQpjbi1ub3J0aC00temporary-security-token-value"


def _temporary(simulator, expires_in: timedelta | None = timedelta(hours=1)) -> None:
    """The simulator's AK/SK become a temporary pair, valid with SECURITY_TOKEN."""
    simulator.gatekeeper.security_token = SECURITY_TOKEN
    simulator.gatekeeper.security_token_expires = (
        simulator.now() + expires_in if expires_in is not None else None)


def _sdk_signed(simulator, sim_api, token: str | None = SECURITY_TOKEN, *,
                sign_token: bool = True):
    """GET the list signed by huaweicloudsdkcore's BasicCredentials (with the security
    token, as a temporary AK/SK signs); ``sign_token=False`` adds it after signing."""
    request = SdkRequest(method="GET", schema="http", host=urlsplit(simulator.url).netloc,
                         resource_path=LIST_PATH, query_params=[("limit", "10")],
                         header_params={"X-Sdk-Date": simulator.now().strftime(
                             "%Y%m%dT%H%M%SZ")}, body="")
    credentials = BasicCredentials(SIM_AK, SIM_SK, SIM_PROJECT)
    if token is not None and sign_token:
        credentials.with_security_token(token)
    credentials.sign_request(request)
    headers = dict(request.header_params)
    if token is not None and not sign_token:
        headers["X-Security-Token"] = token
    return sim_api.session.get(simulator.url + request.uri, headers=headers)


def test_a_temporary_aksk_with_its_security_token_signed_by_the_sdk_passes(simulator,
                                                                          sim_api):
    _temporary(simulator)
    simulator.add_job("temporary-job")

    response = _sdk_signed(simulator, sim_api)

    assert response.status_code == 200, response.text
    assert [job["job_id"] for job in response.json()["jobs"]] == ["temporary-job"]


@pytest.mark.parametrize(("token", "sign_token", "says"), [
    (None, True, "a temporary access key needs X-Security-Token"),
    ("another-token", True, "invalid security token"),
    (SECURITY_TOKEN, False, "X-Security-Token is not signed"),
])
def test_a_temporary_aksk_without_its_signed_token_is_the_gateways_401(
        simulator, sim_api, token, sign_token, says):
    _temporary(simulator)

    response = _sdk_signed(simulator, sim_api, token, sign_token=sign_token)

    assert response.status_code == 401
    assert response.json() == {"error_code": GATEWAY_REFUSED,
                               "error_msg": f"Incorrect IAM authentication information: {says}"}


def test_an_expired_security_token_is_401_with_the_code_for_an_expired_token(
        simulator, sim_api, sim_clock):
    _temporary(simulator, expires_in=timedelta(minutes=15))
    assert _sdk_signed(simulator, sim_api).status_code == 200

    sim_clock.advance(15 * 60)

    response = _sdk_signed(simulator, sim_api)
    assert response.status_code == 401
    assert response.json() == {"error_code": "APIGW.0307",
                               "error_msg": "The token must be updated."}


def test_a_security_token_with_a_permanent_aksk_is_refused(simulator, sim_api):
    response = _sdk_signed(simulator, sim_api)

    assert response.status_code == 401
    assert response.json()["error_code"] == GATEWAY_REFUSED
    assert sim_api.signed().status_code == 200  # without one, the same key passes
