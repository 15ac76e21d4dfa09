"""Cancel and resources usage: against the simulator over real HTTP, AK/SK signed, and
in detail against tests/fakes/raw_http.py for answers the simulator never gives: the
exact paths and parameters sent, what a redirect, a 300, a stalled or missing server
give, the metrics and log lines each cancel leaves, and every field of a resource row."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from bot.metastudio.auth import TokenAuth
from bot.metastudio.errors import (
    AuthError,
    BadRequestError,
    BadResponseError,
    MetaStudioError,
    NotFoundError,
    UnavailableError,
)
from bot.metastudio.operations import JobOperations, Resource
from bot.metastudio.transport import RetryPolicy, Timeouts, Transport
from tests.fakes import raw_http
from tests.fixtures.metastudio import PROJECT_ID, TOKEN

NO_RETRY = RetryPolicy(retries=0, budget=0)


@pytest.fixture
def operations(jobs_client) -> JobOperations:
    found = JobOperations.of(jobs_client)  # through the cache, like the bot
    assert found is not None
    return found


def raw_operations(url: str, project: str = PROJECT_ID, *, read: float = 2.0) -> JobOperations:
    """Operations over a plain transport with no retries (for tests/fakes/raw_http.py)."""
    transport = Transport(url, TokenAuth(TOKEN), retry=NO_RETRY,
                          timeouts=Timeouts(connect=1.0, read=read, deadline=5.0))
    return JobOperations(transport, project)


def requests_total(status: str) -> float:
    return REGISTRY.get_sample_value("videojobs_upstream_requests_total",
                                     {"status": status}) or 0.0


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


def test_the_project_and_the_job_are_one_encoded_path_segment_each(server) -> None:
    server.behaviour = raw_http.ok({"resources": []})
    ops = raw_operations(server.url, "a/b c")

    ops.cancel("x/y z", photo=False)
    ops.resources_usage()

    assert server.requests == [
        "POST /v1/a%2Fb%20c/2d-digital-human-videos/x%2Fy%20z/cancel HTTP/1.1",
        "GET /v1/a%2Fb%20c/tenants/resources-usage?business=VIDEO_2D%2CPICTURE_2D HTTP/1.1",
    ]


def test_the_resources_request_names_both_business_types(simulator, jobs_client) -> None:
    ops = JobOperations.of(jobs_client)
    assert ops is not None

    ops.resources_usage()

    [request] = simulator.requests
    assert request.params == [("business", "VIDEO_2D,PICTURE_2D")]


def test_the_plain_client_has_operations_too(metastudio_client) -> None:
    ops = JobOperations.of(metastudio_client)

    assert ops is not None and ops.transport is metastudio_client.transport


def test_no_operations_without_a_transport_and_a_project_id(metastudio_client) -> None:
    transport = metastudio_client.transport
    assert JobOperations.of(SimpleNamespace(transport=transport, project_id=None)) is None
    assert JobOperations.of(SimpleNamespace(transport=None, project_id="p")) is None


def test_a_redirect_is_not_followed(server) -> None:
    def redirect(conn) -> None:
        conn.sendall(raw_http._head(302, 0, Location=f"{server.url}/elsewhere"))

    server.behaviour = redirect

    with pytest.raises(MetaStudioError) as raised:
        raw_operations(server.url).cancel("job-1", photo=False)

    assert raised.value.status == 302
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [300, 199])
def test_only_a_2xx_is_a_cancel(server, status) -> None:
    server.behaviour = raw_http.ok({}, status=status)

    with pytest.raises(MetaStudioError) as raised:
        raw_operations(server.url).cancel("job-1", photo=True)

    assert raised.value.status == status


def test_a_2xx_cancel_answers_its_request_id_and_is_counted(server, caplog) -> None:
    server.behaviour = raw_http.ok({}, status=204)
    before = requests_total("204")

    with caplog.at_level(logging.DEBUG, logger="bot.metastudio.transport"):
        assert raw_operations(server.url).cancel("job-1", photo=False) == "req-raw-1"

    assert requests_total("204") == before + 1
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    path = f"/v1/{PROJECT_ID}/2d-digital-human-videos/job-1/cancel"
    assert record.getMessage().startswith(f"MetaStudio POST {path} -> 204 in ")
    assert record.getMessage().endswith("(request id req-raw-1)")


def test_a_refused_cancel_keeps_its_request_id_and_is_logged(simulator, jobs_client,
                                                            caplog) -> None:
    ops = JobOperations.of(jobs_client)
    assert ops is not None
    job_id = simulator.add_job(state="PROCESSING")
    before = requests_total("400")

    with caplog.at_level(logging.INFO, logger="bot.metastudio.transport"), \
            pytest.raises(MetaStudioError) as raised:
        ops.cancel(job_id, photo=False)

    assert raised.value.request_id and len(raised.value.request_id) == 32
    assert requests_total("400") == before + 1
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert f"MetaStudio POST /v1/{PROJECT_ID}/2d-digital-human-videos/{job_id}/cancel -> 400" \
        in record.getMessage()
    assert raised.value.request_id in record.getMessage()


def test_an_unreachable_server_is_named_counted_and_logged(server, caplog) -> None:
    url = server.url
    server.close()
    before = requests_total("error")

    with caplog.at_level(logging.INFO, logger="bot.metastudio.transport"), \
            pytest.raises(UnavailableError) as raised:
        raw_operations(url).cancel("job-1", photo=False)

    assert str(raised.value) == f"cannot reach MetaStudio at {url}"
    assert requests_total("error") == before + 1
    [record] = caplog.records
    assert f"POST /v1/{PROJECT_ID}/2d-digital-human-videos/job-1/cancel -> error" in (
        record.getMessage())


def test_a_stalled_cancel_ends_at_the_read_timeout(server) -> None:
    release = threading.Event()
    server.behaviour = raw_http.hold(release, raw_http.ok({}))
    try:
        started = time.monotonic()
        with pytest.raises(UnavailableError):
            raw_operations(server.url, read=0.2).cancel("job-1", photo=False)
        assert time.monotonic() - started < 2.0
    finally:
        release.set()


def test_a_resources_answer_without_a_list_says_so_with_its_request_id(server) -> None:
    server.behaviour = raw_http.ok({"resources": {"VIDEO_2D": 1}})

    with pytest.raises(BadResponseError) as raised:
        raw_operations(server.url).resources_usage()

    e = raised.value
    assert e.message == "MetaStudio's resources answer has no `resources` list"
    # BadResponseError drops a 2xx status (bot/metastudio/errors.py).
    assert (e.status, e.request_id) == (None, "req-raw-1")


def test_every_field_of_a_resource_row(simulator, jobs_client) -> None:
    simulator.resources = [
        {"business_type": "VIDEO_2D", "resource_type": "PACKAGE", "amount": "60",
         "usage": 0, "unit": "MIN", "charging_mode": "PRE_PAID"},
        {"amount": True, "usage": False, "unit": None, "resource_type": 7},
    ]
    ops = JobOperations.of(jobs_client)
    assert ops is not None

    full, odd = ops.resources_usage()

    assert full == Resource("VIDEO_2D", "PACKAGE", 60.0, 0.0, "MIN", "PRE_PAID")
    assert full.left == 60.0 and full.left_share == 1.0
    # A boolean is no number; a missing business type reads "unknown".
    assert odd == Resource("unknown", "7", None, None, None, None)
