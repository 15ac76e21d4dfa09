"""Error answers and injected faults: each with the reference's body and an
X-Request-Id, as a client must be ready for them."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.fixtures.simulator import REFERENCE_ERRORS, THROTTLED


@pytest.mark.parametrize("status", [400, 401, 404, 500])
def test_fail_next_answers_the_reference_body(simulator, sim_api, status):
    simulator.faults.fail_next(status=status)

    response = sim_api.list()

    assert response.status_code == status
    assert response.json() == REFERENCE_ERRORS[status]
    assert response.headers["X-Request-Id"]


def test_a_queued_failure_is_answered_that_many_times_then_normal_service(simulator, sim_api):
    simulator.faults.fail_next(status=503, times=2)

    statuses = [sim_api.list().status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert [r.status for r in simulator.requests] == statuses


def test_a_custom_failure_body_and_headers(simulator, sim_api):
    simulator.faults.fail_next(502, body="<html>Bad Gateway</html>", headers={"X-Edge": "1"})

    response = sim_api.list()

    assert (response.status_code, response.text) == (502, "<html>Bad Gateway</html>")
    assert response.headers["X-Edge"] == "1"


def test_throttling_is_the_gateways_429_with_retry_after(simulator, sim_api):
    simulator.faults.throttle(retry_after=3)

    response = sim_api.list()

    assert response.status_code == 429
    assert response.json() == THROTTLED
    assert response.headers["Retry-After"] == "3"


def test_every_request_id_is_fresh(sim_api):
    ids = {sim_api.list().headers["X-Request-Id"] for _ in range(3)}

    assert len(ids) == 3


def test_a_wrong_project_is_404(sim_api):
    response = sim_api.list(path="/v1/other-project/digital-human-videos")

    assert response.status_code == 404
    assert response.json() == REFERENCE_ERRORS[404]
    assert response.headers["X-Request-Id"]


def test_an_unknown_path_or_method_is_404(simulator, sim_api):
    assert sim_api.list(path="/v1/proj-1/digital-human-assets").status_code == 404
    response = sim_api.session.delete(simulator.url + "/v1/proj-1/digital-human-videos")
    assert response.status_code == 404
    assert response.headers["X-Request-Id"]


def test_malformed_json_is_a_200_that_does_not_parse(simulator, sim_api):
    simulator.faults.malformed_json()

    response = sim_api.list()

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_schema_drift_adds_fields_and_an_unknown_state(simulator, sim_api):
    simulator.add_job("a", state="SUCCEED")
    simulator.add_job("b", state="SUCCEED")
    simulator.faults.extra_fields = True

    page = sim_api.list().json()

    assert set(page) > {"count", "jobs"}
    assert all(set(job) > {"job_id", "state"} for job in page["jobs"])
    assert [job["state"] for job in page["jobs"]] == ["ARCHIVED", "SUCCEED"]


def test_schema_drift_with_chosen_fields_keeps_states(simulator, sim_api):
    simulator.add_job("a", state="SUCCEED")
    simulator.faults.extra_fields = {"brand_new": 1}

    page = sim_api.list().json()

    assert page["brand_new"] == 1
    assert page["jobs"][0]["brand_new"] == 1
    assert page["jobs"][0]["state"] == "SUCCEED"


def test_latency_delays_every_answer(simulator, sim_api):
    simulator.faults.latency = 0.2

    assert sim_api.list().elapsed.total_seconds() >= 0.2


def test_reset_restores_normal_service(simulator, sim_api):
    simulator.faults.fail_next(status=500, times=5)
    simulator.faults.extra_fields = True
    simulator.faults.ignore_job_ids = True
    simulator.faults.latency = 0.5

    simulator.faults.reset()

    assert sim_api.list().json() == {"count": 0, "jobs": []}


def test_requests_are_recorded_with_params_in_order(simulator, sim_api):
    sim_api.list([("job_ids", "b"), ("limit", "5"), ("job_ids", "a")])

    [request] = simulator.requests
    assert (request.method, request.path, request.status) == (
        "GET", "/v1/proj-1/digital-human-videos", 200,
    )
    assert request.params == [("job_ids", "b"), ("limit", "5"), ("job_ids", "a")]
    assert request.headers["X-Auth-Token"] == "TOKEN-TEST"
    assert simulator.request_count() == 1


def test_a_client_that_hangs_up_before_the_answer_leaves_no_traceback(simulator, sim_api,
                                                                      capfd):
    # A client whose timeout ran out under a latency fault: the simulator's write fails,
    # which is the client's doing, not a simulator error worth a traceback on stderr.
    simulator.faults.latency = 0.2
    host, port = urlsplit(simulator.url).hostname, urlsplit(simulator.url).port
    earlier = set(threading.enumerate())  # other tests' servers may still have threads
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"GET /v1/proj-1/digital-human-videos HTTP/1.1\r\nHost: sim\r\n\r\n")
        # Close with a reset, so the simulator's write fails at once rather than on the
        # second write into a half-closed connection.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The request is recorded just before the answer is written, by the request's own
    # thread: once it is recorded, wait for that thread to end.
    deadline = time.monotonic() + 5
    while not simulator.requests or set(threading.enumerate()) - earlier:
        assert time.monotonic() < deadline, "the simulator never finished the request"
        time.sleep(0.01)
    simulator.faults.latency = 0.0

    assert "Traceback" not in capfd.readouterr().err
    assert sim_api.list().status_code == 200  # and it goes on serving
