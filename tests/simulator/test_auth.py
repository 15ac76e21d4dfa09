"""Authentication as the gateway does it: a token, or an AK/SK signature checked
here against requests signed by Huawei's official ``huaweicloudsdkcore`` signer."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime

from tests.fixtures.simulator import SIM_TOKEN

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
