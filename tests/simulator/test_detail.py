"""The detail operations' configuration: shown with ``show_script=true`` (always, unless
the strict reading is switched on), made up from the asset library for jobs no create
call made."""

from __future__ import annotations

from bot.simulator.configs import FROZEN_MODEL, LIBRARY

DETAIL_2D = "/v1/proj-1/2d-digital-human-videos/"
CONFIG = {"model_asset_id", "voice_config", "video_config", "shoot_scripts"}


def test_the_strict_reading_shows_the_configuration_only_when_asked(simulator, sim_api):
    job_id = simulator.add_job(state="FAILED", script_id="s-1")
    simulator.faults.show_script_required = True

    bare = sim_api.list(path=DETAIL_2D + job_id).json()
    full = sim_api.list({"show_script": "true"}, path=DETAIL_2D + job_id).json()

    assert not CONFIG & set(bare) and bare["script_id"] == "s-1"
    assert set(full) >= CONFIG
    simulator.faults.reset()
    assert set(sim_api.list(path=DETAIL_2D + job_id).json()) >= CONFIG


def test_made_up_configurations_name_assets_of_the_library(simulator, sim_api):
    ok, frozen = simulator.add_job(state="FAILED"), simulator.add_job(state="BLOCK")

    first = sim_api.list({"show_script": "true"}, path=DETAIL_2D + ok).json()
    again = sim_api.list({"show_script": "true"}, path=DETAIL_2D + ok).json()
    blocked = sim_api.list({"show_script": "true"}, path=DETAIL_2D + frozen).json()

    library = {asset_id for asset_id, *_ in LIBRARY}
    assert first == again  # the same job, the same made-up configuration
    assert {first["model_asset_id"], first["voice_config"]["voice_asset_id"]} <= library
    assert first["model_asset_id"] != FROZEN_MODEL
    assert first["shoot_scripts"][0]["shoot_script"]["text_config"]["text"]
    assert blocked["model_asset_id"] == FROZEN_MODEL
    assert simulator.assets.get(FROZEN_MODEL).asset_state == "BLOCK"
