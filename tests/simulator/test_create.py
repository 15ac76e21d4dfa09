"""The simulated create operations over plain HTTP: bodies checked as the API notes
describe the request models, the job made living like any other with its detail showing
the body back, the create counter, and a create that times out after making its job."""

from __future__ import annotations

import copy
import json

import pytest
import requests

from bot.simulator.configs import FROZEN_MODEL
from tests.fixtures.simulator import BODY_2D, BODY_PHOTO, SIM_TOKEN

CREATE_2D = "/v1/proj-1/2d-digital-human-videos"
CREATE_PHOTO = "/v1/proj-1/photo-digital-human-videos"

def create(sim_api, body, *, path: str = CREATE_2D, token: str | None = SIM_TOKEN,
           timeout: float = 5.0) -> requests.Response:
    headers = {"X-Auth-Token": token} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return sim_api.session.post(sim_api.sim.url + path, data=data, headers=headers,
                                timeout=timeout)


def detail(sim_api, job_id: str, path: str = CREATE_2D) -> dict:
    return sim_api.list({"show_script": "true"}, path=f"{path}/{job_id}").json()


def changed(body: dict, path: str, value) -> dict:
    """``body`` with the field at ``path`` (dots; ``-`` deletes) set to ``value``."""
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return body


DELETE = object()


def test_a_2d_create_makes_a_job_that_lives_like_any_other(simulator, sim_api) -> None:
    response = create(sim_api, BODY_2D)

    assert response.status_code == 200 and response.headers["X-Request-Id"]
    job_id = response.json()["job_id"]
    assert simulator.created == [job_id] and simulator.create_calls == 1
    [job] = sim_api.jobs({"job_id": job_id})
    assert (job["state"], job["job_type"], job["output_asset_config"]["asset_name"]) == (
        "WAITING", "2D_DIGITAL_HUMAN_VIDEO", "Quarterly update (retry)")
    simulator.advance(61)
    [job] = sim_api.jobs({"job_id": job_id})
    assert job["state"] == "SUCCEED" and job["duration"] == 60.0  # 250 characters: a minute


def test_the_detail_shows_back_what_it_returns_and_not_the_rest(simulator, sim_api) -> None:
    job_id = create(sim_api, BODY_2D).json()["job_id"]

    shown = detail(sim_api, job_id)

    for name in ("script_id", "model_asset_id", "voice_config", "video_config",
                 "shoot_scripts", "background_music_config"):
        assert shown[name] == BODY_2D[name], name
    assert not {"callback_config", "review_config", "action_config"} & set(shown)
    assert shown["output_asset_config"]["asset_id"]


def test_a_photo_detail_drops_its_music_and_id_cards(simulator, sim_api) -> None:
    job_id = create(sim_api, BODY_PHOTO, path=CREATE_PHOTO).json()["job_id"]

    shown = detail(sim_api, job_id, CREATE_PHOTO)

    assert shown["human_image"] == BODY_PHOTO["human_image"]
    assert shown["shoot_scripts"] == BODY_PHOTO["shoot_scripts"]
    assert not {"background_music_config", "id_card_image1", "authorize_use_human_image",
                "model_asset_id"} & set(shown)


@pytest.mark.parametrize(("path", "field", "value", "says"), [
    (CREATE_PHOTO, "human_image", DELETE, "human_image is required"),
    (CREATE_PHOTO, "human_image", "not base64!", "human_image must be Base64"),
    (CREATE_PHOTO, "shoot_scripts", DELETE, "shoot_scripts is required"),
    (CREATE_PHOTO, "shoot_scripts", [{}, {}], "exactly one item"),
    (CREATE_PHOTO, "output_asset_config", DELETE, "output_asset_config is required"),
    (CREATE_PHOTO, "video_config.codec", "VP8", "must be H264"),
    (CREATE_PHOTO, "video_config.bitrate", 39, "bitrate must be a whole number from 40"),
    (CREATE_PHOTO, "model_asset_id", "m", "model_asset_id is not a field"),
    (CREATE_2D, "human_image", "aGk=", "human_image is not a field"),
    (CREATE_2D, "job_id", "j-1", "job_id is not a field"),
    (CREATE_2D, "voice_config.voice_asset_id", DELETE, "voice_asset_id is required"),
    (CREATE_2D, "video_config.bitrate", DELETE, "video_config.bitrate is required"),
    (CREATE_2D, "video_config.width", 1000, "with RESIZE"),
    (CREATE_2D, "video_config.codec", "AV1", "codec must be H264, VP8 or QTRLE"),
    (CREATE_2D, "output_asset_config.asset_name", "x" * 257, "asset_name is required"),
    (CREATE_2D, "shoot_scripts.0.shoot_script.text_config.text", "x" * 10_001,
     "at most 10000 characters"),
    (CREATE_2D, "shoot_scripts.0.shoot_script.background_config.0.background_type", "GIF",
     "background_type is required"),
    (CREATE_2D, "callback_config.auth_type", "BASIC", "NONE or MSS_A"),
    (CREATE_2D, "callback_config.callback_url", DELETE, "callback_url is required"),
    (CREATE_2D, "review_config.no_need_review", "no", "must be true or false"),
    (CREATE_2D, "action_config.action_interval", "often", "must be a number"),
])
def test_a_body_is_checked_as_the_notes_describe(simulator, sim_api, path, field, value,
                                                 says) -> None:
    base = BODY_PHOTO if path == CREATE_PHOTO else BODY_2D

    response = create(sim_api, changed(base, field, value), path=path)

    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "MSS.00000003"
    assert says in response.json()["error_msg"]
    assert simulator.created == [] and simulator.create_calls == 1


def test_crop_takes_any_size_and_ssml_tags_do_not_count(simulator, sim_api) -> None:
    body = changed(changed(BODY_2D, "video_config.clip_mode", "CROP"), "video_config.width",
                   1000)
    tagged = "<speak>" + "x" * 9_990 + "<break time='1s'/>" + "</speak>"
    body = changed(body, "shoot_scripts.0.shoot_script.text_config.text", tagged)
    assert create(sim_api, body).status_code == 200


def test_a_2d_job_needs_a_script_or_shoot_scripts(simulator, sim_api) -> None:
    bare = {"model_asset_id": "sim-model-anna",
            "output_asset_config": {"asset_name": "nothing to say"}}
    assert "script_id or shoot_scripts" in create(sim_api, bare).json()["error_msg"]
    assert create(sim_api, {**bare, "script_id": "s-1"}).status_code == 200


@pytest.mark.parametrize("body", [b"not json", b"[]", b""])
def test_a_body_that_is_no_object_is_a_400(sim_api, body) -> None:
    assert create(sim_api, body).status_code == 400


def test_an_asset_the_library_holds_frozen_is_refused(simulator, sim_api) -> None:
    body = changed(BODY_2D, "model_asset_id", FROZEN_MODEL)

    response = create(sim_api, body)

    assert response.status_code == 400
    assert f"asset {FROZEN_MODEL} is BLOCK" in response.json()["error_msg"]
    voice = changed(BODY_2D, "voice_config.voice_asset_id", "sim-voice-dan")
    simulator.fail_review("sim-voice-dan", "noise")
    assert "sim-voice-dan is FAILED" in create(sim_api, voice).json()["error_msg"]


def test_creates_are_authenticated_and_counted(simulator, sim_api) -> None:
    assert create(sim_api, BODY_2D, token=None).status_code == 401
    assert create(sim_api, BODY_2D, path="/v1/other/2d-digital-human-videos").status_code == 404
    simulator.faults.fail_next(500)
    assert create(sim_api, BODY_2D).status_code == 500
    assert simulator.create_calls == 3 and simulator.created == []


def test_a_signed_create_is_verified_over_its_body(simulator, sim_api) -> None:
    response = sim_api.signed(path=CREATE_2D, method="POST", body=json.dumps(BODY_2D))
    assert response.status_code == 200, response.text


def test_a_create_can_time_out_after_making_its_job(simulator, sim_api) -> None:
    simulator.faults.time_out_creates(after=1.0)

    with pytest.raises(requests.ReadTimeout):
        create(sim_api, BODY_2D, timeout=0.3)

    assert simulator.create_calls == 1 and len(simulator.created) == 1
    [job] = sim_api.jobs({"asset_name": "Quarterly update (retry)"})
    assert job["job_id"] == simulator.created[0]
    # Only the next create was held.
    assert create(sim_api, BODY_2D, timeout=0.9).status_code == 200


def test_a_created_job_with_a_callback_is_called_back(simulator, sim_api) -> None:
    job_id = create(sim_api, BODY_2D).json()["job_id"]
    simulator.advance(61)

    [delivery] = simulator.deliver_callbacks()

    assert delivery.job_id == job_id and "secret=" in delivery.url  # MSS_A-signed


def test_a_blocked_or_canceled_job_can_carry_a_reason(simulator, sim_api) -> None:
    blocked = simulator.add_job(state="WAITING")
    plain = simulator.add_job(state="WAITING")
    simulator.set_state(blocked, "BLOCK", error_code="MSS.BLOCK", error_msg="Reported")
    simulator.set_state(plain, "CANCELED")

    assert simulator.jobs[blocked]["error_info"] == {"error_code": "MSS.BLOCK",
                                                     "error_msg": "Reported"}
    assert simulator.jobs[plain]["error_info"] is None
