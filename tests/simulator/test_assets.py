"""The simulated asset library over plain HTTP: show_asset and the summary's shapes, a
frozen asset, a rejected review, the summary's validation, and signatures over a POST
body made by Huawei's official signer."""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from tests.fixtures.simulator import SIM_AK, SIM_SK, SIM_TOKEN

SHOW = "/v1/proj-1/digital-assets/"
SUMMARY = "/v1/proj-1/digital-assets/summarys"


def post(sim_api, body, *, token: str | None = SIM_TOKEN, path: str = SUMMARY):
    headers = {"X-Auth-Token": token} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return sim_api.session.post(sim_api.sim.url + path, data=data, headers=headers)


def test_show_asset_answers_the_documented_fields(simulator, sim_api) -> None:
    asset_id = simulator.add_asset(name="Anna", asset_type="HUMAN_MODEL_2D")

    body = sim_api.list(path=SHOW + asset_id).json()

    assert {"project_id", "asset_id", "asset_name", "asset_type", "asset_state", "files",
            "create_time", "update_time", "block_reason_code", "reason"} <= set(body)
    assert (body["asset_id"], body["asset_state"], body["project_id"]) == (
        asset_id, "ACTIVED", "proj-1")
    [main] = body["files"]
    assert (main["asset_file_category"], main["state"]) == ("MAIN", "CREATED")
    assert "Expires=" in main["download_url"] and "reason" not in main


def test_a_frozen_asset_says_why_and_hides_its_files(simulator, sim_api) -> None:
    asset_id = simulator.add_asset()
    simulator.set_asset_state(asset_id, "BLOCK", block_reason_code="ILLEGAL", reason="report")

    body = sim_api.list(path=SHOW + asset_id).json()

    assert (body["asset_state"], body["block_reason_code"], body["reason"]) == (
        "BLOCK", "ILLEGAL", "report")
    assert body["files"] == []


def test_a_rejected_review_marks_the_main_file(simulator, sim_api) -> None:
    asset_id = simulator.add_asset(asset_type="VOICE_MODEL")
    simulator.fail_review(asset_id, "noise", fail_type="AUTOMATIC_REVIEW_REJECT")

    body = sim_api.list(path=SHOW + asset_id).json()

    assert (body["asset_state"], body["fail_type"]) == ("FAILED", "AUTOMATIC_REVIEW_REJECT")
    [main] = body["files"]
    assert (main["state"], main["reason"], main["fail_type"]) == (
        "FAILED", "noise", "AUTOMATIC_REVIEW_REJECT")


def test_unknown_assets_are_404_and_unknown_ids_raise(simulator, sim_api) -> None:
    response = sim_api.list(path=SHOW + "nothing")
    assert response.status_code == 404 and response.json()["error_code"] == "MSS.00000002"
    with pytest.raises(KeyError):
        simulator.set_asset_state("nothing", "BLOCK")
    with pytest.raises(KeyError):
        simulator.fail_review("nothing", "why")
    with pytest.raises(ValueError, match="exists"):
        simulator.add_asset(simulator.add_asset())


def test_the_summary_answers_known_assets_in_the_order_asked(simulator, sim_api) -> None:
    first = simulator.add_asset(name="First", state="BLOCK", block_reason_code="B1")
    second = simulator.add_asset(name="Second", asset_type="MUSIC")

    response = post(sim_api, {"asset_ids": [second, "unknown", first, second]})

    assert response.status_code == 200 and response.headers["X-Request-Id"]
    rows = response.json()["asset_list"]
    assert [r["asset_id"] for r in rows] == [second, first]
    assert set(rows[0]) == {"asset_id", "asset_name", "asset_state", "asset_type",
                            "block_reason_code", "cover_url", "thumbnail_url"}
    assert (rows[1]["asset_state"], rows[1]["block_reason_code"]) == ("BLOCK", "B1")


@pytest.mark.parametrize("body", [
    b"not json", {}, {"asset_ids": []}, {"asset_ids": "a1"}, {"asset_ids": [1]}, ["a1"]])
def test_a_summary_without_asset_ids_is_a_400(sim_api, body) -> None:
    response = post(sim_api, body)

    assert response.status_code == 400 and response.json()["error_code"] == "MSS.00000003"


def test_a_summary_limit_holds_when_set(simulator, sim_api) -> None:
    simulator.summary_limit = 2

    assert post(sim_api, {"asset_ids": ["a", "b"]}).status_code == 200
    response = post(sim_api, {"asset_ids": ["a", "b", "c"]})
    assert response.status_code == 400 and "at most 2" in response.json()["error_msg"]


def test_asset_requests_are_authenticated_and_checked_for_the_project(sim_api) -> None:
    assert post(sim_api, {"asset_ids": ["a"]}, token=None).status_code == 401
    assert sim_api.list(path=SHOW + "a", token="wrong").status_code == 401
    other = "/v1/other-project/digital-assets/summarys"
    assert post(sim_api, {"asset_ids": ["a"]}, path=other).status_code == 404


def test_a_post_signed_by_the_official_signer_is_accepted(simulator, sim_api) -> None:
    asset_id = simulator.add_asset()
    body = json.dumps({"asset_ids": [asset_id]})

    signed = sim_api.signed(path=SUMMARY, method="POST", body=body)
    assert signed.status_code == 200, signed.text
    assert [r["asset_id"] for r in signed.json()["asset_list"]] == [asset_id]
    assert simulator.requests[-1].body == body.encode()


def test_a_body_changed_after_signing_is_refused(simulator, sim_api) -> None:
    """The signature covers the body's hash: the simulator checks it."""
    request = SdkRequest(
        method="POST", schema="http", host=urlsplit(simulator.url).netloc,
        resource_path=SUMMARY, query_params=[],
        header_params={"X-Sdk-Date": simulator.now().strftime("%Y%m%dT%H%M%SZ"),
                       "Content-Type": "application/json"},
        body='{"asset_ids": ["a"]}')
    Signer(SimpleNamespace(ak=SIM_AK, sk=SIM_SK)).sign(request)

    response = sim_api.session.post(simulator.url + SUMMARY, headers=request.header_params,
                                     data=b'{"asset_ids": ["b"]}')

    assert response.status_code == 401 and response.json()["error_code"] == "APIGW.0301"
