"""Cancel and resources usage against the simulator over real HTTP, AK/SK signed."""

from __future__ import annotations

import pytest

from bot.metastudio.errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    MetaStudioError,
    NotFoundError,
    UnavailableError,
)
from bot.metastudio.operations import JobOperations, Resource


@pytest.fixture
def operations(jobs_client) -> JobOperations:
    found = JobOperations.of(jobs_client)  # through the cache, like the bot
    assert found is not None
    return found


def test_a_job_canceled_while_waiting_never_started(simulator, operations, sim_api):
    job_id = simulator.add_job(start_in=600, finish_in=900)  # would start in 10 minutes
    simulator.advance(60)
    operations.cancel(job_id, photo=False)

    [job] = sim_api.jobs({"job_id": job_id})
    assert job["state"] == "CANCELED"
    assert job["start_time"] is None
    assert job["end_time"] is not None and job["end_time"] >= job["create_time"]


def test_cancel_takes_the_path_of_the_jobs_type(simulator, operations):
    two_d = simulator.add_job(state="WAITING")
    photo = simulator.add_job(state="WAITING", job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    assert operations.cancel(two_d, photo=False)  # the request id
    operations.cancel(photo, photo=True)
    assert {simulator.jobs[two_d]["state"], simulator.jobs[photo]["state"]} == {"CANCELED"}
    paths = [r.path for r in simulator.requests if r.method == "POST"]
    assert paths == [f"/v1/proj-1/2d-digital-human-videos/{two_d}/cancel",
                     f"/v1/proj-1/photo-digital-human-videos/{photo}/cancel"]


def test_a_started_job_is_refused_with_metastudios_code(simulator, operations):
    job = simulator.add_job(state="PROCESSING")
    with pytest.raises(BadRequestError) as refused:
        operations.cancel(job, photo=False)
    assert refused.value.status == 400 and refused.value.error_code == "MSS.00000003"
    assert simulator.jobs[job]["state"] == "PROCESSING"


def test_a_cancel_is_sent_once_even_when_the_server_fails(simulator, operations):
    job = simulator.add_job(state="WAITING")
    simulator.faults.fail_next(status=503, times=5)
    with pytest.raises(MetaStudioError) as failed:
        operations.cancel(job, photo=False)
    assert getattr(failed.value, "status", None) == 503
    assert len([r for r in simulator.requests if r.method == "POST"]) == 1


def test_unknown_jobs_and_wrong_credentials(simulator, operations):
    with pytest.raises(NotFoundError) as missing:
        operations.cancel("nope", photo=False)
    assert missing.value.status == 404
    simulator.gatekeeper.sk = "other"
    with pytest.raises(AuthError):
        operations.cancel("nope", photo=False)


def test_resources_usage(simulator, operations):
    simulator.resources = [
        {"business_type": "VIDEO_2D", "amount": 100, "usage": 25.5, "unit": "MIN"},
        {"business_type": "PICTURE_2D", "amount": "x", "usage": None},
        "not an object",
    ]
    video, picture = operations.resources_usage()
    assert video == Resource("VIDEO_2D", None, 100.0, 25.5, "MIN")
    assert video.left == 74.5 and video.left_share == pytest.approx(0.745)
    assert picture.left is None and picture.left_share is None


def test_a_resources_answer_without_a_list_is_a_bad_response(simulator, operations):
    simulator.resources = {"nope": 1}
    with pytest.raises(BadResponseError):
        operations.resources_usage()


def test_an_unreachable_metastudio(simulator, operations):
    operations.transport.base_url = "http://127.0.0.1:9"
    with pytest.raises(UnavailableError):
        operations.cancel("job", photo=False)


def test_only_a_real_client_has_operations():
    assert JobOperations.of(object()) is None
