"""The list endpoint's filters, sorting and paging, as a client sees them over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.simulator import Simulator

PHOTO = "PHOTO_DIGITAL_HUMAN_VIDEO"
VIDEO_2D = "2D_DIGITAL_HUMAN_VIDEO"


@pytest.fixture
def catalogue(simulator: Simulator) -> dict[str, str]:
    """Five jobs a minute apart, oldest first, each different in every filterable way."""
    start = simulator.now() - timedelta(hours=1)
    rows = [
        ("old-news", "SUCCEED", VIDEO_2D, "Weekly news digest", "script-001"),
        ("welcome", "FAILED", PHOTO, "Onboarding - welcome", "script-002"),
        ("tour", "PROCESSING", VIDEO_2D, "Product tour v3", "script-002"),
        ("update-en", "WAITING", PHOTO, "Quarterly update (EN)", "script-003"),
        ("update-zh", "CANCELED", VIDEO_2D, "Quarterly update (ZH)", "script-003"),
    ]
    for minute, (job_id, state, job_type, asset, script) in enumerate(rows):
        simulator.add_job(
            job_id, state, job_type, asset_name=asset, script_id=script,
            create_time=start + timedelta(minutes=minute),
        )
    return {row[0]: row[3] for row in rows}


def test_lists_oldest_first_by_default(sim_api, catalogue):
    assert sim_api.ids() == ["old-news", "welcome", "tour", "update-en", "update-zh"]


def test_count_is_every_match_not_the_page(sim_api, catalogue):
    page = sim_api.list({"limit": "2", "offset": "1"}).json()

    assert page["count"] == 5
    assert [job["job_id"] for job in page["jobs"]] == ["welcome", "tour"]


def test_paging_past_the_end_is_empty_but_still_counts(sim_api, catalogue):
    assert sim_api.list({"offset": "10"}).json() == {"count": 5, "jobs": []}


def test_default_page_size_is_ten(simulator, sim_api):
    for _ in range(12):
        simulator.add_job()

    assert len(sim_api.jobs()) == 10


def test_newest_first(sim_api, catalogue):
    assert sim_api.ids({"sort_dir": "desc", "limit": "3"}) == ["update-zh", "update-en", "tour"]


def test_newest_first_pages_from_the_newest_end(sim_api, catalogue):
    assert sim_api.ids({"sort_dir": "desc", "offset": "3"}) == ["welcome", "old-news"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "FAILED"}, ["welcome"]),
        ({"state": "WAITING,PROCESSING"}, ["tour", "update-en"]),
        ({"job_type": PHOTO}, ["welcome", "update-en"]),
        ({"job_type": "DIGITAL_HUMAN_PHOTO_VIDEO"}, ["welcome", "update-en"]),
        ({"asset_name": "Product tour v3"}, ["tour"]),
        ({"asset_name": "Quarterly update"}, []),
        ({"script_id": "script-002"}, ["welcome", "tour"]),
        ({"job_id": "tour"}, ["tour"]),
        ({"job_id": "no-such-job"}, []),
        ({"state": "SUCCEED,CANCELED", "job_type": VIDEO_2D}, ["old-news", "update-zh"]),
    ],
    ids=lambda value: str(value) if isinstance(value, dict) else "",
)
def test_each_filter(sim_api, catalogue, params, expected):
    assert sim_api.ids(params) == expected


def test_fuzzy_asset_name_matches_a_substring(sim_api, catalogue):
    params = {"asset_name": "quarterly update", "fuzzy_query_field": "asset_name"}

    assert sim_api.ids(params) == ["update-en", "update-zh"]


def test_job_ids_as_repeated_pairs_like_the_official_sdk(sim_api, catalogue):
    params = [("job_ids", "update-zh"), ("job_ids", "welcome"), ("job_ids", "nope")]

    assert sim_api.ids(params) == ["welcome", "update-zh"]


def test_job_ids_as_a_comma_list_like_the_sdk_model(sim_api, catalogue):
    assert sim_api.ids({"job_ids": "update-zh,welcome"}) == ["welcome", "update-zh"]


def test_job_ids_combine_with_other_filters(sim_api, catalogue):
    params = [("job_ids", "update-zh"), ("job_ids", "welcome"), ("state", "FAILED")]

    assert sim_api.ids(params) == ["welcome"]


def test_an_older_deployment_ignores_job_ids(simulator, sim_api, catalogue):
    simulator.faults.ignore_job_ids = True

    page = sim_api.list([("job_ids", "tour")]).json()

    assert page["count"] == 5


def test_create_window_is_inclusive(simulator, sim_api, catalogue):
    first = simulator.jobs["welcome"]["create_time"]
    last = simulator.jobs["update-en"]["create_time"]

    assert sim_api.ids({"create_since": first, "create_until": last}) == [
        "welcome", "tour", "update-en",
    ]


def test_without_create_since_only_the_last_month_is_listed(simulator, sim_api):
    simulator.add_job("ancient", create_time=simulator.now() - timedelta(days=40))
    simulator.add_job("recent", create_time=simulator.now() - timedelta(days=20))

    assert sim_api.ids() == ["recent"]


def test_an_explicit_window_reaches_older_jobs(simulator, sim_api):
    simulator.add_job("ancient", create_time=simulator.now() - timedelta(days=40))

    assert sim_api.ids({"create_since": "2000-01-01T00:00:00Z"}) == ["ancient"]


def test_a_look_up_by_id_is_not_limited_to_the_last_month(simulator, sim_api):
    simulator.add_job("ancient", create_time=simulator.now() - timedelta(days=40))

    assert sim_api.ids({"job_id": "ancient"}) == ["ancient"]
    assert sim_api.ids({"job_ids": "ancient"}) == ["ancient"]


def test_the_strict_reading_limits_look_ups_to_the_month_too(simulator, sim_api):
    simulator.faults.lookups_within_month = True
    simulator.add_job("ancient", create_time=simulator.now() - timedelta(days=40))
    since = (simulator.now() - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert sim_api.ids({"job_id": "ancient"}) == []
    assert sim_api.ids({"job_ids": "ancient"}) == []
    assert sim_api.ids({"job_ids": "ancient", "create_since": since}) == ["ancient"]


def test_sort_by_update_time(simulator, sim_api, catalogue, sim_clock):
    sim_clock.advance(60)
    simulator.set_state("old-news", "BLOCK")  # updated last

    ids = sim_api.ids({"sort_key": "update_time", "sort_dir": "desc"})

    assert ids[0] == "old-news"


def test_sort_by_asset_order_is_by_asset_name(sim_api, catalogue):
    ids = sim_api.ids({"sort_key": "asset_order"})

    assert ids == [job_id for job_id, _ in sorted(catalogue.items(), key=lambda kv: kv[1])]


def test_unknown_parameters_are_ignored(sim_api, catalogue):
    assert sim_api.list({"colour": "blue", "limit": "1"}).json()["count"] == 5


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"offset": "-1"},
        {"create_since": "2024-07-04"},
        {"create_since": "2024-07-04T10:00:00+08:00"},
        {"create_until": "2024-07-04T10:00:00.000Z"},
        {"sort_key": "asset_name"},
        {"sort_dir": "up"},
        {"state": "DONE"},
        {"state": ""},
        {"job_type": "3D_DIGITAL_HUMAN_VIDEO"},
    ],
    ids=lambda params: "&".join(f"{k}={v}" for k, v in params.items()),
)
def test_invalid_parameters_are_400_invalid_parameter(sim_api, params):
    response = sim_api.list(params)

    assert response.status_code == 400
    assert response.json()["error_code"] == "MSS.00000003"
    assert next(iter(params)) in response.json()["error_msg"]
    assert response.headers["X-Request-Id"]
