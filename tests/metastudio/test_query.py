"""The query model: the only road from user input to a query string."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from bot.metastudio.models import JobState
from bot.metastudio.query import JobQuery, valid_job_id


def test_parameters_serialise_like_the_sdk():
    query = JobQuery(
        limit=100,
        states=[JobState.FAILED, JobState.SUCCEED],
        job_ids=["a", "b"],
        sort_dir="desc",
        create_since=datetime(2024, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))),
    )
    assert query.to_params() == [
        ("offset", "0"),
        ("limit", "100"),
        ("state", "FAILED,SUCCEED"),  # the reference: comma-separated
        ("sort_dir", "desc"),
        ("create_since", "2024-03-01T00:00:00Z"),  # UTC, 20 characters
        ("job_ids", "a"),  # docs/metastudio-api.md: one pair per id, as the SDK sends them
        ("job_ids", "b"),
    ]


def test_user_text_stays_a_value():
    query = JobQuery(asset_name="Intro&limit=1000&job_type=X")
    assert ("asset_name", "Intro&limit=1000&job_type=X") in query.to_params()
    assert [name for name, _ in query.to_params()] == ["offset", "limit", "asset_name"]


@pytest.mark.parametrize(
    "bad",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"job_id": "has space"},
        {"job_id": "x" * 65},
        {"job_ids": ["ok", "not/ok"]},
        {"job_ids": [f"j{i}" for i in range(101)]},
        {"states": ["DONE"]},
        {"job_type": "3D"},
        {"sort_dir": "sideways"},
        {"asset_name": "line\nbreak"},
        {"create_since": datetime(2024, 1, 1)},  # naive: which timezone?
        {"limit_override": 5},  # nothing outside the documented parameters
    ],
)
def test_invalid_queries_are_refused_before_any_request(bad):
    with pytest.raises(ValidationError):
        JobQuery(**bad)


def test_cache_key_ignores_order_and_duplicates():
    a = JobQuery(states=["FAILED", "SUCCEED"], job_ids=["b", "a", "a"])
    b = JobQuery(states=["SUCCEED", "FAILED"], job_ids=["a", "b"])
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != JobQuery(states=["FAILED"]).cache_key()


def test_times_are_truncated_to_seconds():
    t = datetime(2024, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC)
    assert JobQuery(create_since=t).create_since == datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("26f06524-4f75-4b3a-a853-b649a21aaf66", True), ("a_b", True), ("", False), ("a b", False),
     ("é", False), ("<!channel>", False)],
)
def test_job_id_rule(text, ok):
    assert valid_job_id(text) is ok


def test_free_text_is_1_to_256_printable_characters():
    assert JobQuery(asset_name="a" * 256).asset_name == "a" * 256
    for bad in ("", "a" * 257, "tab\there", "del\x7f"):
        with pytest.raises(ValidationError) as raised:
            JobQuery(asset_name=bad)
        assert raised.value.errors()[0]["msg"] == "Value error, must be 1-256 printable characters"


def test_a_bad_job_id_says_what_a_job_id_is():
    with pytest.raises(ValidationError) as raised:
        JobQuery(job_id="a/b")
    assert raised.value.errors()[0]["msg"] == (
        "Value error, a job id is 1-64 letters, digits, '-' or '_'")


def test_fuzzy_fields_are_one_pair_each():
    params = JobQuery(asset_name="News", fuzzy_query_field=["asset_name", "script_id"]).to_params()
    assert params[-2:] == [("fuzzy_query_field", "asset_name"), ("fuzzy_query_field", "script_id")]


def test_times_are_sent_in_utc_on_a_machine_in_another_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        query = JobQuery(create_since=datetime(2024, 3, 1, 8, 0, tzinfo=UTC))
        assert ("create_since", "2024-03-01T08:00:00Z") in query.to_params()
    finally:
        monkeypatch.undo()
        time.tzset()
