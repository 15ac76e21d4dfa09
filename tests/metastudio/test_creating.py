"""Creating jobs (bot/metastudio/creating.py): one request, never repeated; a create in
doubt is found again by its output asset name before anyone creates twice. Against the
simulator (AK/SK, the create counted and timed out on purpose) and raw answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.metastudio.creating import CREATE_LOOKBACK, Created, JobCreator, find_created
from bot.metastudio.errors import BadRequestError, InDoubtError, ThrottledError
from bot.metastudio.transport import Timeouts
from tests.fakes import raw_http
from tests.fixtures.simulator import BODY_2D, BODY_PHOTO
from tests.metastudio.test_client import raw_client

NAME = BODY_2D["output_asset_config"]["asset_name"]


@pytest.fixture
def creator(jobs_client) -> JobCreator:
    found = JobCreator.of(jobs_client)
    assert found is not None
    return found


def named(body: dict, name: str) -> dict:
    return {**body, "output_asset_config": {"asset_name": name}}


def params(request) -> dict[str, str]:
    return dict(request.params)


# -- creating --------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "photo", "kind"), [
    (BODY_2D, False, "2d"), (BODY_PHOTO, True, "photo")])
def test_a_create_is_one_signed_request_and_gives_the_new_id(simulator, creator, body, photo,
                                                              kind) -> None:
    created = creator.create(body, photo=photo)

    assert isinstance(created, Created) and created.photo is photo
    assert simulator.created == [created.job_id] and created.request_id
    [request] = simulator.requests
    assert (request.method, request.path) == ("POST", f"/v1/proj-1/{kind}-digital-human-videos")
    assert json.loads(request.body) == body
    assert simulator.jobs[created.job_id]["state"] == "WAITING"


def test_a_refused_create_names_the_field_and_makes_nothing(simulator, creator) -> None:
    with pytest.raises(BadRequestError) as refused:
        creator.create({**BODY_PHOTO, "human_image": None}, photo=True)

    assert "human_image is required" in (refused.value.error_msg or "")
    assert simulator.created == [] and simulator.create_calls == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_create_answered_5xx_is_in_doubt_and_not_repeated(simulator, creator, status) -> None:
    simulator.faults.fail_next(status, times=5)

    with pytest.raises(InDoubtError) as doubt:
        creator.create(BODY_2D, photo=False)

    assert doubt.value.status == status and simulator.create_calls == 1


def test_a_throttled_create_is_not_repeated_and_made_nothing(simulator, creator) -> None:
    simulator.faults.throttle(retry_after=0, times=5)

    with pytest.raises(ThrottledError) as throttled:
        creator.create(BODY_2D, photo=False)

    assert not isinstance(throttled.value, InDoubtError) and simulator.create_calls == 1


@pytest.mark.parametrize("body", [{"request": "accepted"}, {"job_id": ""}, {"job_id": 7}])
def test_an_answer_without_a_job_id_is_in_doubt(server, body) -> None:
    server.behaviour = raw_http.ok(body)
    creator = JobCreator.of(raw_client(server.url))
    assert creator is not None

    with pytest.raises(InDoubtError) as doubt:
        creator.create(BODY_2D, photo=False)
    assert doubt.value.request_id == "req-raw-1" and len(server.requests) == 1
    assert doubt.value.status is None  # not "HTTP 200", as if all were well


# -- a create that timed out -----------------------------------------------------------------


def test_a_create_that_timed_out_is_found_before_creating_again(simulator, metastudio_client,
                                                                jobs_client) -> None:
    metastudio_client.transport.timeouts = Timeouts(connect=1.0, read=0.3, deadline=2.0)
    creator = JobCreator.of(jobs_client)
    assert creator is not None
    simulator.faults.time_out_creates(after=1.0)
    sent_at = datetime.now(UTC)

    with pytest.raises(InDoubtError):
        creator.create(BODY_2D, photo=False)
    found = find_created(jobs_client, NAME, sent_at, photo=False)

    assert simulator.create_calls == 1
    assert found is not None and [found.job_id] == simulator.created
    # Nothing else is created: the caller has its job.


def test_no_job_found_means_creating_again_is_safe(simulator, jobs_client) -> None:
    simulator.add_job(asset_name="Another video")
    simulator.add_job(asset_name=NAME + " (2)")

    assert find_created(jobs_client, NAME, datetime.now(UTC)) is None


def test_the_look_up_asks_by_name_and_time_and_type(simulator, jobs_client) -> None:
    sent_at = datetime(2026, 3, 1, 12, 0, 30, 123, tzinfo=UTC)

    find_created(jobs_client, NAME, sent_at, photo=True)

    [request] = simulator.requests
    asked = params(request)
    assert asked["asset_name"] == NAME and asked["sort_dir"] == "desc"
    assert asked["create_since"] == (sent_at - CREATE_LOOKBACK).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert asked["job_type"] == "PHOTO_DIGITAL_HUMAN_VIDEO" and asked["limit"] == "100"
    find_created(jobs_client, NAME, sent_at)
    assert "job_type" not in params(simulator.requests[-1])


def test_the_look_up_is_fresh_every_time(simulator, jobs_client) -> None:
    sent_at = datetime.now(UTC)
    assert find_created(jobs_client, NAME, sent_at) is None

    job_id = simulator.add_job(asset_name=NAME)  # made meanwhile

    found = find_created(jobs_client, NAME, sent_at)
    assert found is not None and found.job_id == job_id


def test_the_newest_job_of_the_name_is_the_one(simulator, jobs_client, sim_clock) -> None:
    sent_at = sim_clock()
    older = simulator.add_job(asset_name=NAME)
    sim_clock.advance(30)
    newer = simulator.add_job(asset_name=NAME, job_type="PHOTO_DIGITAL_HUMAN_VIDEO")

    assert find_created(jobs_client, NAME, sent_at).job_id == newer
    assert find_created(jobs_client, NAME, sent_at, photo=False).job_id == older


def test_jobs_from_before_the_look_back_are_not_the_one(simulator, jobs_client,
                                                        sim_clock) -> None:
    sent_at = sim_clock()
    simulator.add_job(asset_name=NAME, create_time=sent_at - CREATE_LOOKBACK
                      - timedelta(seconds=1))
    inside = simulator.add_job(asset_name=NAME, create_time=sent_at - CREATE_LOOKBACK)

    assert find_created(jobs_client, NAME, sent_at).job_id == inside


def test_an_answer_that_ignored_the_filters_is_checked_here(server) -> None:
    sent_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    server.behaviour = raw_http.ok({"count": 4, "jobs": [
        {"job_id": "other-name", "output_asset_config": {"asset_name": "Other"},
         "create_time": "2026-03-01T12:00:05Z"},
        {"job_id": "too-old", "output_asset_config": {"asset_name": NAME},
         "create_time": "2026-03-01T11:00:00Z"},
        {"job_id": "wrong-type", "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO",
         "output_asset_config": {"asset_name": NAME}, "create_time": "2026-03-01T12:00:09Z"},
        {"job_id": "mine", "job_type": "2D_DIGITAL_HUMAN_VIDEO",
         "output_asset_config": {"asset_name": NAME}, "create_time": "2026-03-01T12:00:01Z"},
    ]})

    found = find_created(raw_client(server.url), NAME, sent_at, photo=False)

    assert found is not None and found.job_id == "mine"
    assert len(server.requests) == 1  # one page, however large the count


def test_an_older_job_of_the_name_alone_is_not_the_one(server) -> None:
    """A server that ignores create_since may answer an earlier job of the same name."""
    server.behaviour = raw_http.ok({"count": 1, "jobs": [
        {"job_id": "too-old", "output_asset_config": {"asset_name": NAME},
         "create_time": "2026-03-01T11:44:59Z"}]})

    assert find_created(raw_client(server.url), NAME,
                        datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) is None


def test_a_server_clock_behind_ours_is_allowed_for(simulator, jobs_client, sim_clock) -> None:
    """MetaStudio stamps create_time with its own clock: a job it made just now may say
    it was made minutes before the bot sent the request."""
    sent_at = sim_clock() + timedelta(minutes=10)

    job_id = simulator.add_job(asset_name=NAME)

    found = find_created(jobs_client, NAME, sent_at)
    assert found is not None and found.job_id == job_id


def test_of_finds_the_plain_clients_transport(jobs_client, metastudio_client) -> None:
    found = JobCreator.of(jobs_client)
    assert found is not None and found.transport is metastudio_client.transport
    assert JobCreator.of(object()) is None
