"""The job detail with its configuration (models.JobDetail, client.get_detail and the
cached client's): the documented and the simulator's shapes, the assets a job names, why
a job ended, ``show_script=true`` on every request, and failures through the error
tree."""

from __future__ import annotations

import pytest

from bot.metastudio.api import DetailsAPI
from bot.metastudio.cache import CachedJobsClient
from bot.metastudio.errors import AuthError, BadResponseError, UnavailableError
from bot.metastudio.models import (
    AssetRef,
    AssetRole,
    Job,
    JobDetail,
    JobState,
    JobType,
    end_reason,
)
from bot.simulator.configs import FROZEN_MODEL
from tests.fakes import raw_http
from tests.metastudio.test_client import raw_client

DETAIL_2D = "/v1/proj-1/2d-digital-human-videos"
DETAIL_PHOTO = "/v1/proj-1/photo-digital-human-videos"

#: Show2DDigitalHumanVideoResponse as the API notes (section 2) list it, with the
#: scripts' backgrounds and layers and an output the job made.
DOCUMENTED_2D = {
    "job_id": "j-2d", "state": "FAILED", "job_type": "2D_DIGITAL_HUMAN_VIDEO",
    "start_time": "2024-07-01T08:00:00Z", "end_time": "2024-07-01T08:03:00Z",
    "duration": None, "create_time": "2024-07-01T07:59:00Z",
    "lastupdate_time": "2024-07-01T08:03:00Z",
    "error_info": {"error_code": "MSS.10001001", "error_msg": "Asset not found"},
    "script_id": "script-1", "model_asset_id": "m-1", "video_making_type": "MODEL",
    "human_image": None,
    "voice_config": {"voice_asset_id": "v-1", "speed": 120, "pitch": 100, "volume": 140},
    "video_config": {"clip_mode": "RESIZE", "codec": "H264", "bitrate": 8000, "width": 1920,
                     "height": 1080, "frame_rate": "25", "is_subtitle_enable": True,
                     "subtitle_config": {"font_size": 40}},
    "background_music_config": {"music_asset_id": "mu-1", "volume": 50},
    "shoot_scripts": [
        {"sequence_no": 2, "shoot_script": {
            "script_type": "AUDIO", "audio_duration": 12.5,
            "layer_config": [{"layer_type": "IMAGE", "asset_id": "img-1",
                              "position": {"dx": 0, "dy": 0, "layer_index": 1}}]}},
        {"sequence_no": 1, "shoot_script": {
            "script_type": "TEXT", "text_config": {"text": "Hello"},
            "background_config": [
                {"background_type": "IMAGE", "background_asset_id": "bg-1",
                 "background_config": "https://obs/bg-1.png"},
                {"background_type": "COLOR", "background_color_config": "#FFFFFF"}]},
         "subtitle_file_info": {"text_subtitle_file": {"subtitle_file_state": "GENERATING"}}},
    ],
    "output_asset_config": {"asset_id": "out-1", "asset_name": "Quarterly"},
}
DOCUMENTED_PHOTO = {
    "job_id": "j-photo", "state": "BLOCK", "job_type": "DIGITAL_HUMAN_PHOTO_VIDEO",
    "script_id": None, "human_image": "iVBORw0KGgo=" * 1000,
    "voice_config": {"voice_asset_id": "v-2"},
    "video_config": {"codec": "H264", "bitrate": 4000, "frame_rate": "25"},
    "shoot_scripts": [{"sequence_no": 0, "shoot_script": {
        "script_type": "TEXT", "text_config": {"text": "Hi"}}}],
    "output_asset_config": {"asset_id": "out-2", "asset_name": "Greeting"},
}


def params(request) -> list[tuple[str, str]]:
    return list(request.params)


# -- models -------------------------------------------------------------------------------


def test_a_documented_2d_detail_names_its_assets_once_each_in_order() -> None:
    detail = JobDetail.model_validate(DOCUMENTED_2D)

    assert detail.asset_refs() == (
        AssetRef(AssetRole.MODEL, "m-1"), AssetRef(AssetRole.VOICE, "v-1"),
        AssetRef(AssetRole.MUSIC, "mu-1"), AssetRef(AssetRole.BACKGROUND, "bg-1"),
        AssetRef(AssetRole.LAYER, "img-1"), AssetRef(AssetRole.OUTPUT, "out-1"))
    assert [ref.role for ref in detail.input_refs] == [
        AssetRole.MODEL, AssetRole.VOICE, AssetRole.MUSIC, AssetRole.BACKGROUND,
        AssetRole.LAYER]
    assert [s.script_type for s in detail.scripts] == ["TEXT", "AUDIO"]  # by sequence_no
    assert detail.voice_config is not None and detail.voice_config.speed == 120
    assert detail.video_config is not None and detail.video_config.model_extra == {
        "is_subtitle_enable": True, "subtitle_config": {"font_size": 40}}
    assert detail.shoot_scripts[1].model_extra["subtitle_file_info"] is not None
    assert detail.state is JobState.FAILED and isinstance(detail, Job)


def test_a_documented_photo_detail_parses_and_keeps_its_photo_out_of_repr() -> None:
    detail = JobDetail.model_validate(DOCUMENTED_PHOTO)

    assert detail.is_photo and detail.job_type is JobType.PHOTO_SDK
    assert detail.human_image is not None and detail.human_image not in repr(detail)
    assert detail.asset_refs() == (AssetRef(AssetRole.VOICE, "v-2"),
                                   AssetRef(AssetRole.OUTPUT, "out-2"))
    assert detail.model_asset_id is None and detail.background_music_config is None


def test_an_asset_named_twice_keeps_its_first_role() -> None:
    detail = JobDetail.model_validate({
        "model_asset_id": "same", "voice_config": {"voice_asset_id": "same"},
        "shoot_scripts": [{"shoot_script": {"layer_config": [{"asset_id": "same"},
                                                              {"asset_id": None}]}}]})

    assert detail.asset_refs() == (AssetRef(AssetRole.MODEL, "same"),)


def test_a_detail_survives_missing_unknown_and_odd_fields() -> None:
    assert JobDetail.model_validate({}).asset_refs() == ()

    odd = JobDetail.model_validate({
        "job_id": "j", "voice_config": "v-1", "video_config": ["H264"],
        "background_music_config": 7, "shoot_scripts": [None, "x", {"shoot_script": "text",
                                                                     "sequence_no": "2"}],
        "model_asset_id": 12345, "brand_new": {"a": 1},
        "human_image": ["not", "text"]})

    assert odd.voice_config is None and odd.video_config is None
    assert odd.background_music_config is None and odd.human_image is None
    assert [item.sequence_no for item in odd.shoot_scripts] == [2]
    assert odd.scripts == () and odd.model_asset_id == "12345"
    assert odd.model_extra["brand_new"] == {"a": 1}
    assert JobDetail.model_validate({"voice_config": {"speed": "fast"}}).voice_config.speed is None


def test_why_a_job_ended() -> None:
    failed = JobDetail.model_validate(DOCUMENTED_2D)
    assert end_reason(failed) == failed.error_info

    blocked = Job.model_validate({"state": "BLOCK", "error_info": {},
                                  "block_reason": "Reported content"})
    reason = end_reason(blocked)
    assert reason is not None and reason.error_msg == "Reported content"
    assert reason.error_code is None

    assert end_reason(Job.model_validate({"state": "CANCELED"})) is None
    assert end_reason(Job.model_validate({"error_info": {"error_code": None},
                                          "block_reason": 5})) is not None


# -- against the simulator ---------------------------------------------------------------


@pytest.mark.parametrize(("job_type", "path"), [
    ("2D_DIGITAL_HUMAN_VIDEO", DETAIL_2D), ("PHOTO_DIGITAL_HUMAN_VIDEO", DETAIL_PHOTO)])
def test_get_detail_asks_for_the_script_on_its_types_path(simulator, metastudio_client,
                                                          job_type, path) -> None:
    simulator.faults.show_script_required = True  # the configuration only when asked
    job_id = simulator.add_job(job_type=job_type, state="FAILED", script_id="script-3")

    detail = metastudio_client.get_detail(job_id, job_type=job_type)

    assert detail is not None and detail.job_id == job_id and detail.script_id == "script-3"
    assert detail.voice_config is not None and detail.voice_config.voice_asset_id
    assert detail.scripts and detail.scripts[0].text_config is not None
    assert (detail.model_asset_id is not None) is (path == DETAIL_2D)
    assert (detail.human_image is not None) is (path == DETAIL_PHOTO)
    assert detail.asset_refs()[-1] == AssetRef(
        AssetRole.OUTPUT, simulator.jobs[job_id]["output_asset_config"]["asset_id"])
    [request] = simulator.requests
    assert request.path == f"{path}/{job_id}" and params(request) == [("show_script", "true")]


def test_a_job_of_unknown_type_is_looked_for_on_both_paths(simulator, metastudio_client):
    job_id = simulator.add_job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO", state="CANCELED")

    detail = metastudio_client.get_detail(job_id)

    assert detail is not None and detail.is_photo
    assert [r.path for r in simulator.requests] == [f"{DETAIL_2D}/{job_id}",
                                                    f"{DETAIL_PHOTO}/{job_id}"]
    assert metastudio_client.get_detail("no-such-job") is None


def test_a_frozen_jobs_detail_names_its_frozen_model(simulator, metastudio_client) -> None:
    job_id = simulator.add_job(state="BLOCK")

    detail = metastudio_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")

    assert detail is not None and detail.model_asset_id == FROZEN_MODEL


def test_the_plain_find_detail_still_asks_without_the_script(simulator, metastudio_client):
    simulator.faults.show_script_required = True
    job_id = simulator.add_job(state="SUCCEED")

    found = metastudio_client.find_detail(job_id)

    assert found.job is not None and type(found.job) is Job
    assert "voice_config" not in (found.job.model_extra or {})
    assert params(simulator.requests[0]) == []


def test_detail_failures_go_through_the_error_tree(simulator, metastudio_client) -> None:
    job_id = simulator.add_job(state="FAILED")

    simulator.faults.fail_next(500, times=10)
    with pytest.raises(UnavailableError):
        metastudio_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    simulator.faults.reset()

    simulator.faults.malformed_json()
    with pytest.raises(BadResponseError):
        metastudio_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")

    simulator.faults.fail_next(401)
    with pytest.raises(AuthError):
        metastudio_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")


def test_a_detail_that_is_no_job_is_a_bad_response(server) -> None:
    server.behaviour = raw_http.ok({"state": "FAILED", "error_info": "boom"})

    with pytest.raises(BadResponseError) as raised:
        raw_client(server.url).get_detail("job-1", job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert raised.value.message == "MetaStudio's answer does not look like a job"


# -- the cached client -------------------------------------------------------------------


def test_both_clients_provide_the_detail(jobs_client, metastudio_client) -> None:
    assert isinstance(jobs_client, DetailsAPI) and isinstance(metastudio_client, DetailsAPI)


def test_the_cached_detail_of_a_finished_job_is_kept(simulator, jobs_client) -> None:
    job_id = simulator.add_job(state="FAILED")

    first = jobs_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert jobs_client.get_detail(job_id) is first
    assert len(simulator.requests) == 1

    assert jobs_client.get_detail(job_id, refresh=True) is not first
    jobs_client.invalidate(job_id)
    jobs_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert len(simulator.requests) == 3
    jobs_client.invalidate()
    jobs_client.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert len(simulator.requests) == 4


def test_the_cached_detail_of_a_running_job_lives_the_short_ttl(simulator, metastudio_client):
    now = [0.0]
    cached = CachedJobsClient(metastudio_client, ttl=15, finished_ttl=600,
                              clock=lambda: now[0])
    job_id = simulator.add_job(state="PROCESSING")

    cached.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    now[0] = 14
    cached.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert len(simulator.requests) == 1
    now[0] = 16
    cached.get_detail(job_id, job_type="2D_DIGITAL_HUMAN_VIDEO")
    assert len(simulator.requests) == 2


def test_a_cached_client_over_a_reader_without_details_has_none() -> None:
    class JobsOnly:
        pass

    assert CachedJobsClient(JobsOnly()).get_detail("j") is None  # type: ignore[arg-type]
