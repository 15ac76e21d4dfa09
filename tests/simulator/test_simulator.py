"""The simulator's contract: what the client, the demo and the benchmarks rely on.

Plain ``requests`` calls over loopback; AK/SK requests are signed by Huawei's official
``huaweicloudsdkcore`` signer, an independent check of the simulator's verification.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from bot.metastudio.signing import sdk_date
from bot.simulator import Simulator

LIST = "/v1/proj-1/digital-human-videos"
TOKEN = {"X-Auth-Token": "TOKEN-TEST"}


def get(sim, params=(), headers=TOKEN, path=LIST):
    return requests.get(sim.url + path, params=list(params), headers=headers, timeout=5)


def ids(response) -> list[str]:
    return [job["job_id"] for job in response.json()["jobs"]]


def signed_get(sim, params, *, sk="SK-TEST", date=None):
    """A GET signed by the official SDK signer, sent as the SDK would send it."""
    host = urlsplit(sim.url).netloc
    request = SdkRequest(
        method="GET", schema="http", host=host, resource_path=LIST,
        query_params=list(params),
        header_params={"X-Sdk-Date": sdk_date(date or datetime.now(UTC)), "Host": host},
        body="",
    )
    Signer(SimpleNamespace(ak="AK-TEST", sk=sk)).sign(request)
    return requests.get(sim.url + LIST, params=list(params), headers=request.header_params,
                        timeout=5)


@pytest.fixture
def catalogue(simulator):
    """Five jobs an hour apart, oldest first, covering the filters."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    specs = [
        ("a", "SUCCEED", "2D_DIGITAL_HUMAN_VIDEO", "Quarterly update (EN)", "s1"),
        ("b", "FAILED", "PHOTO_DIGITAL_HUMAN_VIDEO", "Quarterly update (ZH)", "s1"),
        ("c", "PROCESSING", "2D_DIGITAL_HUMAN_VIDEO", "Safety briefing", "s2"),
        ("d", "WAITING", "DIGITAL_HUMAN_PHOTO_VIDEO", "Launch teaser", "s2"),
        ("e", "CANCELED", "2D_DIGITAL_HUMAN_VIDEO", "Launch teaser", "s3"),
    ]
    for i, (job_id, state, kind, asset, script) in enumerate(specs):
        simulator.add_job(job_id, state, kind, asset_name=asset, script_id=script,
                          create_time=start + timedelta(hours=i))
    return start


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ([], ["a", "b", "c", "d", "e"]),
        ([("state", "FAILED,CANCELED")], ["b", "e"]),
        ([("job_type", "2D_DIGITAL_HUMAN_VIDEO")], ["a", "c", "e"]),
        # Both photo spellings match a photo filter (API-NOTES.md).
        ([("job_type", "PHOTO_DIGITAL_HUMAN_VIDEO")], ["b", "d"]),
        ([("asset_name", "Launch teaser")], ["d", "e"]),
        ([("asset_name", "quarterly"), ("fuzzy_query_field", "asset_name")], ["a", "b"]),
        ([("script_id", "s2")], ["c", "d"]),
        ([("job_id", "c")], ["c"]),
        ([("job_ids", "a"), ("job_ids", "e")], ["a", "e"]),  # the SDK's repeated pairs
        ([("job_ids", "a,e")], ["a", "e"]),  # a comma list, accepted too
        ([("sort_dir", "desc")], ["e", "d", "c", "b", "a"]),
        ([("sort_key", "asset_order")], ["d", "e", "a", "b", "c"]),
        ([("job_ids", "zzz")], []),
    ],
)
def test_filters_and_sorting(simulator, catalogue, params, expected):
    assert ids(get(simulator, [*params, ("limit", "100")])) == expected


def test_time_window_and_paging_with_count(simulator, catalogue):
    since = (catalogue + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (catalogue + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    window = [("create_since", since), ("create_until", until)]

    first = get(simulator, [*window, ("limit", "2")])
    second = get(simulator, [*window, ("limit", "2"), ("offset", "2")])

    assert first.json()["count"] == second.json()["count"] == 3  # total, not page size
    assert ids(first) + ids(second) == ["b", "c", "d"]


def test_without_create_since_the_list_covers_about_a_month(simulator):
    simulator.add_job("old", "SUCCEED", create_time=datetime.now(UTC) - timedelta(days=40))
    assert ids(get(simulator)) == []
    since = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(get(simulator, [("create_since", since)])) == ["old"]


def test_ignore_job_ids_answers_an_unfiltered_page(simulator, catalogue):
    simulator.ignore_job_ids = True
    answer = get(simulator, [("job_ids", "a"), ("limit", "100")])
    assert answer.json()["count"] == 5


@pytest.mark.parametrize(
    "params",
    [[("limit", "0")], [("limit", "101")], [("offset", "-1")], [("state", "DONE")],
     [("sort_dir", "up")], [("create_since", "2024-01-01")], [("job_type", "3D")]],
)
def test_invalid_parameters_get_the_reference_400(simulator, params):
    answer = get(simulator, params)
    assert answer.status_code == 400
    assert answer.json()["error_code"] == "MSS.00000003"
    assert answer.headers["X-Request-Id"]


def test_unknown_project_is_404(simulator):
    answer = get(simulator, path="/v1/someone-else/digital-human-videos")
    assert (answer.status_code, answer.json()["error_code"]) == (404, "MSS.00000002")


def test_injected_faults(simulator, catalogue):
    simulator.faults.fail_next(500)
    simulator.faults.throttle(retry_after=3)
    simulator.faults.malformed_json()

    failed, throttled, malformed, healthy = (get(simulator) for _ in range(4))

    assert failed.status_code == 500 and failed.json()["error_code"] == "MSS.00000004"
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error_code"] == "APIGW.0308"
    with pytest.raises(ValueError):
        malformed.json()
    assert healthy.status_code == 200
    assert len({r.headers["X-Request-Id"] for r in (failed, throttled, malformed, healthy)}) == 4


def test_schema_drift_adds_fields_everywhere(simulator, catalogue):
    simulator.faults.extra_fields = True
    body = get(simulator).json()
    assert "render_node" in body and all("render_node" in job for job in body["jobs"])


def test_latency(simulator):
    simulator.faults.latency = 0.2
    assert get(simulator).elapsed >= timedelta(seconds=0.2)


# -- authentication ----------------------------------------------------------------------


def test_requests_without_valid_credentials_are_refused(simulator):
    for headers in ({}, {"X-Auth-Token": "wrong"}):
        answer = get(simulator, headers=headers)
        assert answer.status_code == 401 and answer.headers["X-Request-Id"]


def test_official_sdk_signature_is_accepted(simulator, catalogue):
    answer = signed_get(simulator, [("job_ids", "a"), ("job_ids", "e"), ("asset_name", "a b~+")])
    assert answer.status_code == 200


def test_wrong_secret_key_is_refused_like_the_gateway(simulator):
    answer = signed_get(simulator, [("limit", "5")], sk="SK-WRONG")
    assert (answer.status_code, answer.json()["error_code"]) == (401, "APIGW.0301")


def test_stale_sdk_date_is_refused(simulator):
    answer = signed_get(simulator, [], date=datetime.now(UTC) - timedelta(minutes=20))
    assert answer.status_code == 401
    assert "expired" in answer.json()["error_msg"]


def test_date_header_follows_the_simulator_clock(simulator):
    simulator.advance(3600)
    served = datetime.strptime(get(simulator).headers["Date"], "%a, %d %b %Y %H:%M:%S GMT")
    assert served.replace(tzinfo=UTC) - datetime.now(UTC) > timedelta(minutes=59)


def test_iam_login_issues_a_token_that_expires(simulator):
    simulator.iam_users = {("bob", "acme"): "pw"}
    simulator.iam_token_ttl = 60
    login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "bob", "password": "pw", "domain": {"name": "acme"}}}},
        "scope": {"project": {"id": "proj-1"}}}}

    issued = requests.post(simulator.url + "/v3/auth/tokens", json=login, timeout=5)
    token = {"X-Auth-Token": issued.headers["X-Subject-Token"]}

    assert issued.status_code == 201 and issued.json()["token"]["expires_at"].endswith("Z")
    assert get(simulator, headers=token).status_code == 200
    simulator.advance(61)
    assert get(simulator, headers=token).status_code == 401

    login["auth"]["identity"]["password"]["user"]["password"] = "nope"
    refused = requests.post(simulator.url + "/v3/auth/tokens", json=login, timeout=5)
    assert refused.status_code == 401
    assert simulator.iam_logins == 2


# -- lifecycle and assets ------------------------------------------------------------------


def test_scheduled_job_moves_to_its_outcome_as_time_passes(simulator):
    job_id = simulator.add_job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO", finish_in=60)
    assert simulator.jobs[job_id]["state"] == "PROCESSING"

    simulator.advance(61)
    job = simulator.jobs[job_id]

    assert job["state"] == "SUCCEED" and job["end_time"] and job["duration"]
    assert "Expires=" in job["output_asset_config"]["cover_url"]
    assert job["output_asset_config"]["preview_video_url"]  # photo jobs only


def test_set_state_failed_carries_error_info_and_no_cover(simulator):
    job_id = simulator.add_job(state="PROCESSING")
    simulator.set_state(job_id, "FAILED", error_code="MSS.10003001", error_msg="Render timeout")
    job = simulator.jobs[job_id]
    assert job["error_info"] == {"error_code": "MSS.10003001", "error_msg": "Render timeout"}
    assert "cover_url" not in job["output_asset_config"]
    assert job["start_time"] <= job["end_time"]


def test_two_d_jobs_have_no_preview(simulator):
    job_id = simulator.add_job(state="SUCCEED")
    assert "preview_video_url" not in simulator.jobs[job_id]["output_asset_config"]


def test_cover_is_a_png_until_its_url_expires(simulator):
    job_id = simulator.add_job(state="SUCCEED")
    cover = simulator.jobs[job_id]["output_asset_config"]["cover_url"]

    image = requests.get(cover, timeout=5)
    assert image.headers["Content-Type"] == "image/png"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", image.content[16:24]) == (64, 36)

    simulator.advance(8 * 86400)
    assert requests.get(cover, timeout=5).status_code == 403


def test_seeded_jobs_are_realistic_and_reproducible():
    first, second = Simulator(seed_jobs=300, rng_seed=3), Simulator(seed_jobs=300, rng_seed=3)
    jobs = list(first.jobs.values())

    assert [j["job_id"] for j in jobs] == [j["job_id"] for j in second.jobs.values()]
    assert {j["job_type"] for j in jobs} == {"2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO"}
    assert {"WAITING", "PROCESSING", "SUCCEED", "FAILED", "CANCELED", "BLOCK"} <= {
        j["state"] for j in jobs
    } | {j["state"] for j in (first.advance(3600) or first.jobs.values())}
    assert all(j["error_info"]["error_code"] for j in jobs if j["state"] == "FAILED")
    # Unfinished jobs finish within minutes, so the demo has news to announce.
    first.advance(0)
    assert all(j["state"] not in ("WAITING", "PROCESSING") for j in first.jobs.values())


def test_open_simulator_accepts_any_request():
    sim = Simulator(seed_jobs=3)
    handle = sim.serve()
    try:
        assert requests.get(sim.url + LIST, timeout=5).json()["count"] == 3
    finally:
        handle.stop()
