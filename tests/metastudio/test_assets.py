"""The asset client (bot/metastudio/assets.py): its models on the documented and the
simulator's shapes, the summary's batches and its retries (a POST that only reads), and
every failure through the error tree. Real HTTP: the simulator, AK/SK signed; the odd
answers from tests/fakes/raw_http.py."""

from __future__ import annotations

import json

import pytest

from bot.metastudio.assets import (
    SUMMARY_BATCH,
    Asset,
    AssetsAPI,
    AssetState,
    AssetSummary,
    FileState,
    summary_path,
)
from bot.metastudio.auth import AkSkAuth, TokenAuth
from bot.metastudio.errors import (
    AuthError,
    BadResponseError,
    InDoubtError,
    NotFoundError,
    UnavailableError,
)
from bot.metastudio.transport import RetryPolicy, Timeouts, Transport
from tests.fakes import raw_http
from tests.fixtures.metastudio import AK, FAST_RETRY, PROJECT_ID, SK, TOKEN

SUMMARY = f"/v1/{PROJECT_ID}/digital-assets/summarys"

#: ShowAssetResponse as docs/metastudio-api.md ("Assets") and the SDK describe it: a
#: voice whose sample failed manual review, with fields the bot does not read.
DOCUMENTED_ASSET = {
    "project_id": PROJECT_ID,
    "asset_id": "0a8f1b7c2d3e4f5061728394a5b6c7d8",
    "asset_name": "Narrator (clone)",
    "asset_description": "",
    "app_user_id": "u-1",
    "create_time": "2024-07-01T08:00:00Z",
    "update_time": "2024-07-02T09:30:00Z",
    "asset_type": "VOICE_MODEL",
    "asset_state": "FAILED",
    "fail_type": "MANUAL_REVIEW_REJECT",
    "reason": "review rejected",
    "tags": ["narration"],
    "asset_extra_meta": {"voice_model_meta": {"model_type": "CLONE", "sex": "FEMALE"}},
    "system_properties": [{"action": "ADD", "key": "IS_CONTROLLED", "value": "YES"}],
    "auto_operation_config": [{"operation": "DELETE", "operation_time": "2024-08-01T00:00:00Z"}],
    "files": [
        {"file_id": "f1", "file_name": "sample.wav", "file_md5": "x" * 24, "file_size": 1024,
         "file_type": "wav", "asset_file_category": "MAIN", "download_url": "https://o/f1",
         "state": "FAILED", "reason": "background noise in the recording",
         "file_extra_meta": {"video_transcoding_status": "NONE"}},
        {"file_id": "f2", "asset_file_category": "COVER", "state": "CREATED"},
    ],
}
DOCUMENTED_SUMMARY = {"asset_list": [{
    "asset_id": "a1", "asset_name": "Anna", "asset_state": "BLOCK",
    "asset_type": "HUMAN_MODEL_2D", "block_reason_code": "ILLEGAL_CONTENT",
    "cover_url": "https://o/c.png", "thumbnail_url": "https://o/t.png"}]}


@pytest.fixture
def assets(jobs_client) -> AssetsAPI:
    found = AssetsAPI.of(jobs_client)  # through the cache, like the bot
    assert found is not None
    return found


def raw_assets(url: str, *, retry: RetryPolicy = FAST_RETRY) -> AssetsAPI:
    transport = Transport(url, TokenAuth(TOKEN), retry=retry,
                          timeouts=Timeouts(connect=1.0, read=1.0, deadline=5.0),
                          retry_posts=(summary_path(PROJECT_ID),))
    return AssetsAPI(transport, PROJECT_ID)


def bodies(simulator) -> list[list[str]]:
    return [json.loads(r.body)["asset_ids"] for r in simulator.requests if r.method == "POST"]


# -- models -------------------------------------------------------------------------------


def test_the_documented_asset_parses_with_its_review_verdict() -> None:
    asset = Asset.model_validate(DOCUMENTED_ASSET)

    assert asset.asset_state is AssetState.FAILED and not asset.usable
    assert (asset.fail_type, asset.reason) == ("MANUAL_REVIEW_REJECT", "review rejected")
    [main] = asset.rejected_files
    assert main.state is FileState.FAILED and main.reason == "background noise in the recording"
    assert main.asset_file_category == "MAIN"
    assert asset.model_extra["system_properties"][0]["key"] == "IS_CONTROLLED"
    assert asset.update_time is not None and asset.update_time.hour == 9


def test_the_documented_summary_parses() -> None:
    summary = AssetSummary.model_validate(DOCUMENTED_SUMMARY["asset_list"][0])

    assert summary.asset_state is AssetState.BLOCK and not summary.usable
    assert (summary.block_reason_code, summary.thumbnail_url) == ("ILLEGAL_CONTENT",
                                                                  "https://o/t.png")


@pytest.mark.parametrize("model", [Asset, AssetSummary])
def test_models_survive_missing_and_unknown_fields(model) -> None:
    empty = model.model_validate({})
    assert empty.asset_id == "" and empty.asset_state is None and not empty.usable

    drifted = model.model_validate({
        "asset_id": 12345, "asset_state": "ARCHIVED", "block_reason_code": 42,
        "asset_name": {"i18n": "?"}, "brand_new": [1, 2], "files": "none"})
    assert drifted.asset_id == "12345" and drifted.asset_state == "ARCHIVED"
    assert not isinstance(drifted.asset_state, AssetState) and not drifted.usable
    assert drifted.block_reason_code == "42" and drifted.asset_name is None
    assert drifted.model_extra["brand_new"] == [1, 2]


def test_files_that_are_not_objects_are_dropped() -> None:
    asset = Asset.model_validate({"files": [None, "x", {"state": "BLOCK",
                                                        "block_reason_code": "P1"}]})

    assert [f.state for f in asset.files] == [FileState.BLOCK]
    assert asset.rejected_files == asset.files
    assert Asset.model_validate({"files": [{"state": "REVIEW"}]}).rejected_files == ()


def test_an_asset_knows_its_summary() -> None:
    asset = Asset.model_validate(DOCUMENTED_ASSET)

    assert asset.summary() == AssetSummary(
        asset_id=DOCUMENTED_ASSET["asset_id"], asset_name="Narrator (clone)",
        asset_state=AssetState.FAILED, asset_type="VOICE_MODEL")


# -- against the simulator ---------------------------------------------------------------


def test_summaries_give_names_states_and_block_reasons(simulator, assets) -> None:
    model = simulator.add_asset(name="Anna", state="BLOCK", block_reason_code="ILLEGAL_CONTENT")
    voice = simulator.add_asset(name="Narrator", asset_type="VOICE_MODEL")

    found = assets.summaries([model, voice, "no-such-asset", model, ""])

    assert set(found) == {model, voice}
    assert (found[model].asset_state, found[model].block_reason_code) == (
        AssetState.BLOCK, "ILLEGAL_CONTENT")
    assert (found[voice].asset_name, found[voice].usable) == ("Narrator", True)
    assert bodies(simulator) == [[model, voice, "no-such-asset"]]


def test_no_ids_make_no_request(simulator, assets) -> None:
    assert assets.summaries([]) == {} and assets.summaries(["", ""]) == {}
    assert simulator.requests == []


def test_a_long_list_is_split_into_batches_the_server_takes(simulator, assets) -> None:
    # No limit is documented; 50 is the bot's choice (docs/metastudio-api.md, "Assets").
    assert SUMMARY_BATCH == 50
    simulator.summary_limit = 50
    ids = [simulator.add_asset(name=f"asset {i}") for i in range(101)]

    found = assets.summaries(ids)

    assert set(found) == set(ids)
    assert [len(batch) for batch in bodies(simulator)] == [50, 50, 1]
    assert [i for batch in bodies(simulator) for i in batch] == ids


def test_the_batch_size_is_the_clients_choice(simulator, metastudio_client) -> None:
    ids = [simulator.add_asset() for _ in range(5)]
    assets = AssetsAPI(metastudio_client.transport, PROJECT_ID, batch_size=2)

    assert set(assets.summaries(ids)) == set(ids)
    assert [len(batch) for batch in bodies(simulator)] == [2, 2, 1]


def test_the_summary_is_retried_like_a_get(simulator, assets) -> None:
    asset = simulator.add_asset()
    simulator.faults.fail_next(503, times=2)

    assert set(assets.summaries([asset])) == {asset}
    assert [r.status for r in simulator.requests] == [503, 503, 200]


def test_one_asset_with_a_failed_review(simulator, assets) -> None:
    voice = simulator.add_asset(name="Narrator", asset_type="VOICE_MODEL")
    simulator.fail_review(voice, "background noise", fail_type="AUTOMATIC_REVIEW_REJECT")

    asset = assets.asset(voice)

    assert asset.asset_state is AssetState.FAILED and asset.fail_type == "AUTOMATIC_REVIEW_REJECT"
    [main] = asset.rejected_files
    assert (main.state, main.reason, main.fail_type) == (
        FileState.FAILED, "background noise", "AUTOMATIC_REVIEW_REJECT")
    assert [r.path for r in simulator.requests] == [f"/v1/{PROJECT_ID}/digital-assets/{voice}"]


def test_a_frozen_asset_hides_its_files(simulator, assets) -> None:
    model = simulator.add_asset(state="BLOCK", block_reason_code="P-7", reason="complaint")

    asset = assets.asset(model)

    assert (asset.asset_state, asset.block_reason_code, asset.reason) == (
        AssetState.BLOCK, "P-7", "complaint")
    assert asset.files == ()


def test_a_post_body_is_signed_json(simulator) -> None:
    """The simulator checks the AK/SK signature over the body's hash: a body sent other
    than it was signed would be refused."""
    transport = Transport(simulator.url, AkSkAuth(AK, SK, PROJECT_ID), retry=FAST_RETRY,
                          retry_posts=(SUMMARY,))
    simulator.add_asset("a-1", name="Anna")

    got = transport.post(SUMMARY, {"asset_ids": ["a-1", "名字"]})

    assert [a["asset_id"] for a in got.body["asset_list"]] == ["a-1"]
    [request] = simulator.requests
    assert request.method == "POST" and json.loads(request.body) == {"asset_ids": ["a-1", "名字"]}
    assert request.headers["Content-Type"] == "application/json;charset=UTF-8"


# -- errors ---------------------------------------------------------------------------------


def test_an_unknown_asset_is_not_found(simulator, assets) -> None:
    with pytest.raises(NotFoundError) as raised:
        assets.asset("no-such-asset")
    assert (raised.value.status, raised.value.error_code) == (404, "MSS.00000002")


@pytest.mark.parametrize("call", ["asset", "summaries"])
def test_refused_credentials_are_an_auth_error_sent_once(simulator, call) -> None:
    asset = simulator.add_asset()
    transport = Transport(simulator.url, AkSkAuth(AK, "wrong-SK", PROJECT_ID), retry=FAST_RETRY,
                          retry_posts=(SUMMARY,))
    api = AssetsAPI(transport, PROJECT_ID)

    with pytest.raises(AuthError):
        api.asset(asset) if call == "asset" else api.summaries([asset])
    assert [r.status for r in simulator.requests] == [401]


@pytest.mark.parametrize("call", ["asset", "summaries"])
def test_a_server_error_is_retried_then_unavailable(simulator, assets, call) -> None:
    asset = simulator.add_asset()
    simulator.faults.fail_next(500, times=10)

    with pytest.raises(UnavailableError) as raised:
        assets.asset(asset) if call == "asset" else assets.summaries([asset])

    assert not isinstance(raised.value, InDoubtError)  # a read is never in doubt
    assert raised.value.status == 500 and raised.value.error_code == "MSS.00000004"
    assert len(simulator.requests) == 1 + FAST_RETRY.retries


@pytest.mark.parametrize("call", ["asset", "summaries"])
def test_a_malformed_answer_is_a_bad_response(simulator, assets, call) -> None:
    asset = simulator.add_asset()
    simulator.faults.malformed_json()

    with pytest.raises(BadResponseError) as raised:
        assets.asset(asset) if call == "asset" else assets.summaries([asset])
    assert raised.value.message == "MetaStudio's answer was malformed: not JSON"


@pytest.mark.parametrize("body", [{"asset_list": {"a1": {}}}, {"asset_list": "a1"}])
def test_a_summary_without_its_list_is_a_bad_response(server, body) -> None:
    server.behaviour = raw_http.ok(body)

    with pytest.raises(BadResponseError) as raised:
        raw_assets(server.url).summaries(["a1"])
    assert raised.value.message == "MetaStudio's asset summary has no `asset_list` list"


def test_a_summary_keeps_only_the_rows_it_asked_for(server) -> None:
    server.behaviour = raw_http.ok({"asset_list": [
        {"asset_id": "a1", "asset_state": "ACTIVED"}, {"asset_id": "stranger"}, "junk",
        {"asset_id": "a2", "asset_name": ["not", "text"]}]})

    found = raw_assets(server.url).summaries(["a1", "a2"])

    assert set(found) == {"a1", "a2"} and found["a1"].usable
    assert server.requests == [f"POST {SUMMARY} HTTP/1.1"]


def test_a_summary_with_no_list_found_nothing(server) -> None:
    server.behaviour = raw_http.ok({})
    assert raw_assets(server.url).summaries(["a1"]) == {}


def test_an_asset_answer_takes_its_id_from_the_path(server) -> None:
    server.behaviour = raw_http.ok({"asset_state": "ACTIVED", "asset_id": None})
    assert raw_assets(server.url).asset("a1").asset_id == "a1"


@pytest.mark.parametrize(("body", "message"), [
    ({"asset_id": "another"}, "MetaStudio answered for another asset (another)"),
    ({"asset_id": "a1", "create_time": {"when": 1}, "tags": 5, "update_time": [],
      "asset_type": object.__name__}, None),
])
def test_an_asset_answer_for_another_asset_is_refused(server, body, message) -> None:
    server.behaviour = raw_http.ok(body)

    if message is None:  # odd fields are tolerated, not refused
        assert raw_assets(server.url).asset("a1").asset_id == "a1"
        return
    with pytest.raises(BadResponseError) as raised:
        raw_assets(server.url).asset("a1")
    assert raised.value.message == message and raised.value.request_id == "req-raw-1"


def test_an_asset_id_is_one_encoded_path_segment(server) -> None:
    server.behaviour = raw_http.ok({"asset_id": "a/b c"})

    raw_assets(server.url).asset("a/b c")

    assert server.requests == [f"GET /v1/{PROJECT_ID}/digital-assets/a%2Fb%20c HTTP/1.1"]


def test_of_finds_the_plain_clients_transport(jobs_client, metastudio_client) -> None:
    found = AssetsAPI.of(jobs_client)
    assert found is not None and found.transport is metastudio_client.transport
    assert found.summary_path in metastudio_client.transport.retry_posts
    assert AssetsAPI.of(object()) is None
