"""Re-creating a job (bot/domain/recreate.py). Round trips first: a job's detail, read
over HTTP from the simulator, becomes a body the simulator's create takes, and the new
job's detail shows the same configuration; what the detail lacks is listed. Then the
builder's rules one by one, pure, and the minutes estimate, the asset check and the
retry name."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from bot.domain.recreate import (
    ASSET_NAME_LIMIT,
    CallbackConfig,
    CannotRecreate,
    MinutesEstimate,
    build_recreation,
    check_assets,
    estimate_minutes,
    retry_asset_name,
)
from bot.metastudio.assets import AssetsAPI, AssetSummary
from bot.metastudio.creating import JobCreator
from bot.metastudio.models import AssetRef, AssetRole, Job, JobDetail
from bot.simulator.configs import FROZEN_MODEL
from tests.fixtures.simulator import BODY_2D, BODY_PHOTO

NOW = datetime(2026, 3, 1, 12, 0, 30, tzinfo=UTC)
CALLBACK = CallbackConfig("https://bot.example/metastudio/callback", key="k-1")
COMPARED = ("script_id", "model_asset_id", "voice_config", "video_config", "shoot_scripts",
            "background_music_config", "human_image")


@pytest.fixture
def creator(jobs_client) -> JobCreator:
    found = JobCreator.of(jobs_client)
    assert found is not None
    return found


def fields(recreation) -> set[str]:
    return {omission.field for omission in recreation.not_carried}


def shown(detail: JobDetail) -> dict:
    dumped = detail.model_dump(exclude_none=True)
    return {name: dumped.get(name) for name in COMPARED}


# -- round trips over HTTP -------------------------------------------------------------------


@pytest.mark.parametrize(("body", "photo"), [(BODY_2D, False), (BODY_PHOTO, True)])
def test_a_detail_round_trips_into_a_body_the_create_takes(simulator, metastudio_client,
                                                           creator, body, photo) -> None:
    original = creator.create(body, photo=photo).job_id
    detail = metastudio_client.get_detail(original)
    assert detail is not None

    recreation = build_recreation(detail, asset_name=retry_asset_name(detail.asset_name, NOW),
                                  callback=CALLBACK)
    again = creator.create(recreation.body, photo=recreation.photo)

    assert simulator.created == [original, again.job_id]
    copied = metastudio_client.get_detail(again.job_id)
    assert copied is not None and shown(copied) == shown(detail)
    assert copied.asset_name == recreation.asset_name != detail.asset_name
    assert recreation.body["callback_config"] == {
        "callback_url": CALLBACK.url, "auth_type": "MSS_A", "key": "k-1"}


def test_a_2d_recreation_lists_what_the_detail_does_not_return(simulator, metastudio_client,
                                                               creator) -> None:
    detail = metastudio_client.get_detail(creator.create(BODY_2D, photo=False).job_id)

    recreation = build_recreation(detail, asset_name="again", callback=CALLBACK)

    assert fields(recreation) == {"callback_config", "review_config", "action_config",
                                  "X-App-UserId"}
    assert not {"review_config", "action_config"} & set(recreation.body)
    assert [ref.asset_id for ref in recreation.assets] == [
        "sim-model-anna", "sim-voice-clara", "mu-1", "bg-1"]


def test_a_photo_recreation_lists_its_music_and_id_cards(simulator, metastudio_client,
                                                         creator) -> None:
    detail = metastudio_client.get_detail(creator.create(BODY_PHOTO, photo=True).job_id)

    recreation = build_recreation(detail, asset_name="again", callback=None)

    assert fields(recreation) == {"callback_config", "review_config", "X-App-UserId",
                                  "background_music_config",
                                  "id_card_image1/2, authorize_use_human_image"}
    assert "callback_config" not in recreation.body
    why = {o.field: o.why for o in recreation.not_carried}
    assert why["callback_config"].endswith("no callback is set")


def test_a_made_up_jobs_detail_round_trips_too(simulator, metastudio_client, creator) -> None:
    for kind in ("2D_DIGITAL_HUMAN_VIDEO", "PHOTO_DIGITAL_HUMAN_VIDEO"):
        failed = simulator.add_job(state="FAILED", job_type=kind, asset_name="Weekly")
        detail = metastudio_client.get_detail(failed, job_type=kind)
        recreation = build_recreation(detail, asset_name=retry_asset_name("Weekly", NOW),
                                      callback=CALLBACK)
        assert creator.create(recreation.body, photo=recreation.photo).job_id


def test_a_frozen_model_is_refused_with_its_reason(simulator, metastudio_client,
                                                   jobs_client) -> None:
    frozen = simulator.add_job(state="BLOCK")
    detail = metastudio_client.get_detail(frozen, job_type="2D_DIGITAL_HUMAN_VIDEO")
    recreation = build_recreation(detail, asset_name="again", callback=CALLBACK)
    library = AssetsAPI.of(jobs_client)

    check = check_assets(recreation.assets, library.summaries(
        ref.asset_id for ref in recreation.assets))

    assert not check.ok and check.unchecked == ()
    assert check.refusal == (
        f"Model asset Dora (2D model) ({FROZEN_MODEL}) is frozen (BLOCK), block reason "
        "PORTRAIT_RIGHTS. MetaStudio makes videos only with ACTIVED assets.")


def test_a_detail_read_without_the_script_cannot_be_recreated(simulator,
                                                              metastudio_client) -> None:
    simulator.faults.show_script_required = True
    job_id = simulator.add_job(state="FAILED")
    bare = JobDetail.model_validate(metastudio_client.find_detail(job_id).job.model_dump())

    with pytest.raises(CannotRecreate, match="show_script=true"):
        build_recreation(bare, asset_name="again", callback=None)


# -- the builder's rules ---------------------------------------------------------------------


def detail_2d(**changes) -> JobDetail:
    body = {**copy.deepcopy(BODY_2D), "job_id": "j", "state": "FAILED",
            "job_type": "2D_DIGITAL_HUMAN_VIDEO",
            "output_asset_config": {"asset_id": "out", "asset_name": "Q"}}
    body.update(changes)
    return JobDetail.model_validate(body)


def test_urls_give_way_to_asset_ids_and_lone_urls_are_caveats() -> None:
    detail = detail_2d(shoot_scripts=[{"sequence_no": 0, "shoot_script": {
        "script_type": "TEXT", "text_config": {"text": "Hi"},
        "audio_drive_file_external_url": "https://obs/audio.wav",
        "background_config": [
            {"background_type": "IMAGE", "background_asset_id": "bg-1",
             "background_config": "https://obs/bg-1.png"},
            {"background_type": "IMAGE", "background_config": "https://obs/lone.png"}],
        "layer_config": [
            {"layer_type": "IMAGE", "asset_id": "img-1", "position": {"dx": 0, "dy": 0,
                                                                      "layer_index": 1},
             "image_config": {"image_url": "https://obs/img-1.png"}},
            {"layer_type": "VIDEO", "position": {"dx": 0, "dy": 0, "layer_index": 2},
             "video_config": {"video_url": "https://obs/v.mp4", "loop_count": -1}}]},
        "subtitle_file_info": {"text_subtitle_file": {"subtitle_file_state": "GENERATE_SUCCEED"}}}])

    recreation = build_recreation(detail, asset_name="again", callback=None)

    [item] = recreation.body["shoot_scripts"]
    assert "subtitle_file_info" not in item and "subtitle_file_info" in fields(recreation)
    script = item["shoot_script"]
    assert script["background_config"][0] == {"background_type": "IMAGE",
                                              "background_asset_id": "bg-1"}
    assert script["background_config"][1]["background_config"] == "https://obs/lone.png"
    assert script["layer_config"][0]["image_config"] == {}
    assert script["layer_config"][1]["video_config"] == {"video_url": "https://obs/v.mp4",
                                                         "loop_count": -1}
    assert len(recreation.caveats) == 3
    assert all("may have expired" in caveat for caveat in recreation.caveats)
    assert [ref.asset_id for ref in recreation.assets] == [
        "sim-model-anna", "sim-voice-clara", "mu-1", "bg-1", "img-1"]


def test_incomplete_settings_are_left_to_the_script_and_listed() -> None:
    detail = detail_2d(video_config={"codec": "H264", "width": 1920},
                       voice_config={"speed": 110})

    recreation = build_recreation(detail, asset_name="again", callback=None)

    assert "video_config" not in recreation.body and "voice_config" not in recreation.body
    why = {o.field: o.why for o in recreation.not_carried}
    assert why["video_config"] == ("incomplete in the detail (no bitrate, height); the "
                                   "script's video settings apply")
    assert why["voice_config"].endswith("the script's voice applies")
    no_script = build_recreation(detail_2d(script_id=None, video_config={"codec": "H264"}),
                                 asset_name="again", callback=None)
    assert "MetaStudio's default" in {o.field: o.why for o in no_script.not_carried}[
        "video_config"]


def test_a_2d_detail_needs_a_script_and_a_photo_one_its_photo() -> None:
    with pytest.raises(CannotRecreate, match="neither a script id nor shoot scripts"):
        build_recreation(detail_2d(script_id=None, shoot_scripts=[]), asset_name="a",
                         callback=None)
    script_only = build_recreation(detail_2d(shoot_scripts=None), asset_name="a",
                                   callback=None)
    assert "shoot_scripts" not in script_only.body and script_only.body["script_id"]

    photo = {**copy.deepcopy(BODY_PHOTO), "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO"}
    with pytest.raises(CannotRecreate, match="no photo"):
        build_recreation(JobDetail.model_validate({**photo, "human_image": None}),
                         asset_name="a", callback=None)
    with pytest.raises(CannotRecreate, match="no shoot script"):
        build_recreation(JobDetail.model_validate({**photo, "shoot_scripts": []}),
                         asset_name="a", callback=None)


def test_a_photo_keeps_one_script_of_text_and_its_video_codec() -> None:
    detail = JobDetail.model_validate({
        **copy.deepcopy(BODY_PHOTO), "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO",
        "video_config": {"codec": "H264", "bitrate": 4000, "width": 1080, "clip_mode": "x"},
        "shoot_scripts": [
            {"sequence_no": 2, "shoot_script": {"script_type": "TEXT",
                                                "text_config": {"text": "second"}}},
            {"sequence_no": 1, "shoot_script": {
                "script_type": "TEXT", "text_config": {"text": "first"},
                "background_config": [{"background_type": "COLOR"}]}}]})

    recreation = build_recreation(detail, asset_name="a", callback=None)

    assert recreation.body["shoot_scripts"] == [{"sequence_no": 1, "shoot_script": {
        "script_type": "TEXT", "text_config": {"text": "first"}}}]
    assert recreation.body["video_config"] == {"codec": "H264", "bitrate": 4000}
    assert "shoot_scripts[1:]" in fields(recreation)
    no_codec = JobDetail.model_validate({**detail.model_dump(), "video_config": {"bitrate": 1}})
    assert "video_config" not in build_recreation(no_codec, asset_name="a", callback=None).body


def test_a_2d_job_made_from_a_picture_says_its_picture_stays_behind() -> None:
    detail = detail_2d(video_making_type="PICTURE", human_image="aGk=")

    recreation = build_recreation(detail, asset_name="a", callback=None)

    assert "human_image" not in recreation.body and "human_image" in fields(recreation)


def test_the_output_asset_name_is_checked() -> None:
    for bad in ("", "x" * (ASSET_NAME_LIMIT + 1)):
        with pytest.raises(ValueError, match="1-256"):
            build_recreation(detail_2d(), asset_name=bad, callback=None)


def test_the_bots_callback() -> None:
    with pytest.raises(ValueError, match="needs its key"):
        CallbackConfig("https://bot/cb")
    assert "k-1" not in repr(CALLBACK)
    recreation = build_recreation(detail_2d(), asset_name="a", callback=CALLBACK)
    assert recreation.body["callback_config"]["key"] == "k-1"
    assert "k-1" not in repr(recreation) and "body" not in repr(recreation)
    assert CallbackConfig("https://bot/cb?t=1", auth_type="NONE").to_body() == {
        "callback_url": "https://bot/cb?t=1", "auth_type": "NONE"}


# -- the retry's name, minutes and assets ------------------------------------------------------


def test_a_retry_name_is_unique_to_the_attempt_and_fits() -> None:
    first = retry_asset_name("Quarterly update", NOW)
    assert first == "Quarterly update · retry 20260301-120030"
    assert retry_asset_name(first, NOW.replace(second=45)) == (
        "Quarterly update · retry 20260301-120045")
    long = retry_asset_name("x" * 300, NOW)
    assert len(long) == ASSET_NAME_LIMIT and long.endswith(" · retry 20260301-120030")
    assert retry_asset_name(None, NOW) == "video · retry 20260301-120030"
    assert retry_asset_name("  ", NOW).startswith("video")


def test_minutes_come_from_the_original_video_when_it_has_one() -> None:
    done = Job.model_validate({"duration": 90})
    assert estimate_minutes(done) == MinutesEstimate(1.5, "duration")
    assert estimate_minutes(done).whole_minutes == 2
    assert estimate_minutes(Job(), JobDetail.model_validate({"duration": 60})
                            ) == MinutesEstimate(1.0, "duration")


def test_minutes_come_from_the_script_at_the_voices_speed() -> None:
    text = "<speak>" + "x" * 500 + "</speak>"
    detail = JobDetail.model_validate({
        "voice_config": {"speed": 200},
        "shoot_scripts": [
            {"shoot_script": {"script_type": "TEXT", "text_config": {"text": text}}},
            {"shoot_script": {"script_type": "AUDIO", "audio_duration": 30}}]})

    estimate = estimate_minutes(Job.model_validate({"duration": 0}), detail)

    assert estimate == MinutesEstimate(1.5, "script")  # 500 chars at 500/min, and 30 s
    slow = JobDetail.model_validate({**detail.model_dump(), "voice_config": {"speed": 0}})
    assert estimate_minutes(Job(), slow).minutes == pytest.approx(2.5)  # speed 0: normal


def test_minutes_unknown_say_so() -> None:
    assert estimate_minutes(Job()) == MinutesEstimate(None, "unknown")
    assert estimate_minutes(Job(), JobDetail()).whole_minutes is None
    empty = JobDetail.model_validate(
        {"shoot_scripts": [{"shoot_script": {"script_type": "AUDIO"}}]})
    assert estimate_minutes(Job(), empty).basis == "unknown"
    assert MinutesEstimate(0.2, "script").whole_minutes == 1
    assert MinutesEstimate(2.0, "script").whole_minutes == 2


def test_the_asset_check_leaves_out_the_output_and_lists_the_unchecked() -> None:
    refs = (AssetRef(AssetRole.MODEL, "m1"), AssetRef(AssetRole.VOICE, "system-voice"),
            AssetRef(AssetRole.OUTPUT, "out"), AssetRef(AssetRole.OUTPUT, "out-unlisted"))
    rows = {"m1": AssetSummary(asset_id="m1", asset_state="ACTIVED"),
            "out": AssetSummary(asset_id="out", asset_state="BLOCK")}

    check = check_assets(refs, rows)

    assert check.ok and check.refusal is None
    assert check.unchecked == (AssetRef(AssetRole.VOICE, "system-voice"),)
    deleted = check_assets(refs, {**rows, "system-voice": AssetSummary(
        asset_id="system-voice", asset_state="DELETED", asset_name="Old")})
    assert deleted.refusal == ("Voice asset Old (system-voice) was deleted (DELETED). "
                               "MetaStudio makes videos only with ACTIVED assets.")
