"""What a job looks like: the reference's DigitalHumanVideo, in each state."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.metastudio.models import Job, JobPage

#: The reference's time format, YYYY-MM-DDTHH:MM:SSZ.
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
JOB_FIELDS = {
    "job_id", "state", "job_type", "start_time", "end_time", "duration",
    "output_asset_config", "error_info", "create_time", "lastupdate_time",
}


def test_a_succeeded_photo_job_has_everything(simulator, sim_api):
    simulator.add_job("photo", "SUCCEED", "PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="One Day")

    [job] = sim_api.jobs()

    assert set(job) == JOB_FIELDS
    assert job["state"] == "SUCCEED"
    assert job["error_info"] is None
    assert isinstance(job["duration"], float)
    for name in ("start_time", "end_time", "create_time", "lastupdate_time"):
        assert TIME.fullmatch(job[name]), name
    asset = job["output_asset_config"]
    assert asset["asset_name"] == "One Day"
    assert asset["cover_url"].startswith(f"{simulator.url}/covers/{asset['asset_id']}.png?")
    assert "Expires=" in asset["cover_url"]
    assert "preview_video_url" in asset


def test_the_preview_link_is_valid_for_24_hours_from_the_answer(simulator, sim_api):
    simulator.add_job("photo", "SUCCEED", "PHOTO_DIGITAL_HUMAN_VIDEO")

    [job] = sim_api.jobs()

    preview = Job.model_validate(job).preview_video_url
    preview_expiry = int(preview.rsplit("Expires=", 1)[1])
    assert preview_expiry == int((simulator.now() + timedelta(hours=24)).timestamp())


def test_a_2d_video_has_no_preview(simulator, sim_api):
    simulator.add_job("avatar", "SUCCEED", "2D_DIGITAL_HUMAN_VIDEO")

    [job] = sim_api.jobs()

    assert "preview_video_url" not in job["output_asset_config"]


def test_a_failed_job_carries_its_error(simulator, sim_api):
    simulator.add_job("broken", "FAILED", error_code="MSS.10001001", error_msg="Asset not found")

    [job] = sim_api.jobs()

    assert job["error_info"] == {"error_code": "MSS.10001001", "error_msg": "Asset not found"}
    assert job["end_time"] is not None
    assert job["duration"] is None
    assert "cover_url" not in job["output_asset_config"]


def test_a_waiting_job_has_not_started(simulator, sim_api):
    simulator.add_job("queued")

    [job] = sim_api.jobs()

    assert (job["state"], job["start_time"], job["end_time"]) == ("WAITING", None, None)


def test_set_state_fills_in_times_as_a_real_job_would(simulator, sim_api, sim_clock):
    job_id = simulator.add_job(state="PROCESSING")
    sim_clock.advance(90)

    simulator.set_state(job_id, "SUCCEED")

    [job] = sim_api.jobs()
    assert job["end_time"] == job["lastupdate_time"]
    assert job["start_time"] < job["end_time"]
    assert job["output_asset_config"]["cover_url"]


def test_set_state_failed_defaults_to_the_internal_error(simulator, sim_api):
    job_id = simulator.add_job(state="PROCESSING")

    simulator.set_state(job_id, "FAILED")

    assert sim_api.jobs()[0]["error_info"] == {
        "error_code": "MSS.00000004", "error_msg": "Internal Error",
    }


def test_the_bots_models_read_every_state(simulator, sim_api):
    for state in ("WAITING", "PROCESSING", "SUCCEED", "FAILED", "CANCELED", "BLOCK"):
        simulator.add_job(state=state)

    page = JobPage.from_body(sim_api.list().json(), request_id=None)

    assert sorted(job.state_name for job in page.jobs) == [
        "BLOCK", "CANCELED", "FAILED", "PROCESSING", "SUCCEED", "WAITING",
    ]


def test_jobs_property_shows_the_api_view(simulator):
    job_id = simulator.add_job(state="CANCELED", asset_name="Launch teaser")

    assert simulator.jobs[job_id]["state"] == "CANCELED"
    assert simulator.jobs[job_id]["output_asset_config"]["asset_name"] == "Launch teaser"


def test_a_duplicate_job_id_is_refused(simulator):
    simulator.add_job("same")

    with pytest.raises(ValueError, match="exists"):
        simulator.add_job("same")
