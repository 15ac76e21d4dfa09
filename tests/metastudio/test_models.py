"""Response models: tolerant of whatever MetaStudio (or a gateway) sends."""

from datetime import UTC, datetime

import pytest

from bot.metastudio.models import Job, JobPage, JobState, JobType, signed_url_expiry

REFERENCE_EXAMPLE = {
    "count": 1,
    "jobs": [
        {
            "job_id": "26f06524-4f75-4b3a-a853-b649a21aaf66",
            "state": "SUCCEED",
            "start_time": "2022-01-18T16:29:36Z",
            "end_time": "2022-01-18T16:30:36Z",
            "duration": 60,
            "output_asset_config": {
                "asset_id": "942e65a5fd219a2e01fb08d881cfadb9",
                "asset_name": "One Day",
                "cover_url": "https://obs.example/c.png?AccessKeyId=X&Expires=1671241457&Signature=z%3D",
            },
            "error_info": None,
            "create_time": "2022-11-30T06:59:56Z",
            "lastupdate_time": "2022-11-30T07:00:09Z",
        }
    ],
}


def test_reference_example_parses():
    page = JobPage.from_body(REFERENCE_EXAMPLE, request_id="req-1")
    (job,) = page.jobs
    assert page.count == 1 and page.request_id == "req-1"
    assert job.state is JobState.SUCCEED and job.is_finished
    assert job.asset_name == "One Day"
    assert job.create_time == datetime(2022, 11, 30, 6, 59, 56, tzinfo=UTC)
    assert job.run_seconds == 60
    assert job.output_asset_config.cover_expires_at() == datetime.fromtimestamp(1671241457, UTC)


def test_unknown_state_and_type_are_kept_as_text():
    job = Job.model_validate({"job_id": "a", "state": "ARCHIVED", "job_type": "3D_VIDEO"})
    assert job.state == "ARCHIVED" and not isinstance(job.state, JobState)
    assert job.job_type == "3D_VIDEO"
    # An unknown state is not announced as an ending: the poller keeps watching it.
    assert not job.is_finished
    assert job.state_name == "ARCHIVED"


@pytest.mark.parametrize("spelling", ["PHOTO_DIGITAL_HUMAN_VIDEO", "DIGITAL_HUMAN_PHOTO_VIDEO"])
def test_both_photo_spellings_are_photo_jobs(spelling):
    job = Job.model_validate({"job_type": spelling})
    assert isinstance(job.job_type, JobType) and job.is_photo


def test_drifted_fields_do_not_fail_the_page():
    body = {
        "count": "many",
        "jobs": [
            {"job_id": "a", "create_time": "yesterday", "duration": "n/a", "new_field": {"x": 1}},
            "not an object",
            {"state": None},
        ],
        "next_marker": "abc",
    }
    page = JobPage.from_body(body, request_id=None)
    assert page.count == 3  # an unusable count falls back to what arrived
    assert [j.job_id for j in page.jobs] == ["a", ""]
    first = page.jobs[0]
    assert first.create_time is None and first.duration is None
    assert first.model_extra == {"new_field": {"x": 1}}
    assert page.jobs[1].state_name == "UNKNOWN"


def test_missing_job_list_is_an_empty_page():
    assert JobPage.from_body({"count": 0}, None).jobs == ()
    assert JobPage.from_body({"jobs": None}, None).jobs == ()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, None),
        ("https://x/c.png", None),
        ("https://x/c.png?Expires=notanumber", None),
        ("https://x/c.png?a=1&Expires=0", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_signed_url_expiry(url, expected):
    assert signed_url_expiry(url) == expected


# -- tolerance, pinned (mutation testing found these unguarded) ---------------------------


def test_times_given_as_datetimes_are_kept_and_naive_strings_are_utc():
    at = datetime(2024, 7, 4, 10, 15, tzinfo=UTC)
    assert Job(job_id="j", create_time=at).create_time is at
    naive = Job.model_validate({"job_id": "j", "create_time": "2024-07-04T10:15:00"})
    assert naive.create_time == at and naive.create_time.tzinfo is UTC
    shanghai = Job.model_validate({"job_id": "j", "create_time": "2024-07-04T18:15:00+08:00"})
    assert shanghai.create_time == at


def test_a_malformed_time_or_duration_is_logged_with_its_value(caplog):
    job = Job.model_validate({"job_id": "j", "create_time": "yesterday-ish",
                              "start_time": 17, "duration": "long"})
    assert job.create_time is None and job.start_time is None and job.duration is None
    assert sorted(r.getMessage() for r in caplog.records) == [
        "unexpected duration from MetaStudio: 'long'",
        "unexpected time value from MetaStudio: 17",
        "unparseable time from MetaStudio: 'yesterday-ish'",
    ]


def test_durations_numbers_and_numeric_text():
    assert Job.model_validate({"job_id": "j", "duration": 12}).duration == 12
    assert Job.model_validate({"job_id": "j", "duration": "12.5"}).duration == 12.5
    assert Job.model_validate({"job_id": "j", "duration": None}).duration is None


def test_a_page_keeps_unknown_fields_and_the_header_request_id():
    page = JobPage.from_body(
        {"count": 0, "jobs": [{"job_id": "j"}], "request_id": "from-body", "next_marker": "m"},
        "from-header",
    )
    assert page.request_id == "from-header"
    assert page.count == 0  # the server's count, even when it disagrees with the page
    assert page.model_extra == {"next_marker": "m"}


def test_a_job_list_that_is_not_a_list_is_an_empty_page():
    page = JobPage.from_body({"count": 3, "jobs": "oops"}, None)
    assert page.jobs == () and page.count == 3
    assert JobPage.from_body({"count": -1, "jobs": [{"job_id": "j"}]}, None).count == 1
